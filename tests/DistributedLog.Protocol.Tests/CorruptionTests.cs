using System.Buffers.Binary;
using CsCheck;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;
using static DistributedLog.Protocol.Tests.TestEntries;

namespace DistributedLog.Protocol.Tests;

public class CorruptionTests
{
    private static readonly Item[] Sample =
    [
        new(1, LogRecordFlags.None, [1, 2, 3, 4, 5], null, CompressionCodec.None),
        new(2, LogRecordFlags.RecordSet, [], [[10, 11], [], [12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12]], CompressionCodec.Lz4),
        new(3, LogRecordFlags.RecordSet, [], [[20], [21, 22]], CompressionCodec.None),
        new(4, LogRecordFlags.None, [.. Enumerable.Repeat((byte)7, 60)], null, CompressionCodec.None),
        new(4, LogRecordFlags.Control, "control"u8.ToArray(), null, CompressionCodec.None),
    ];

    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public void Every_single_byte_flip_is_rejected(CompressionCodec codec)
    {
        byte[] entry = Write(Sample, codec);
        AssertSame(Expected(Sample), Read(entry));
        using var reader = new EntryReader();
        foreach (byte mask in new byte[] { 0x01, 0x02, 0x10, 0x80, 0xFF, 0x5A })
        {
            for (int i = 0; i < entry.Length; i++)
            {
                byte[] copy = (byte[])entry.Clone();
                copy[i] ^= mask;
                AssertRejected(copy, reader);
            }
        }
    }

    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public void Every_truncation_and_extension_is_rejected(CompressionCodec codec)
    {
        byte[] entry = Write(Sample, codec);
        using var reader = new EntryReader();
        for (int length = 0; length < entry.Length; length++)
        {
            AssertRejected(entry.AsSpan(0, length), reader);
        }

        AssertRejected([.. entry, 0], reader);
    }

    [Fact]
    public void Random_entries_survive_random_single_byte_changes() =>
        Gen.Select(Items, Codec, Gen.Int, Gen.Byte[1, 255]).Sample((items, codec, where, mask) =>
        {
            byte[] entry = Write(items, codec);
            entry[(int)((uint)where % (uint)entry.Length)] ^= mask;
            AssertRejected(entry);
        }, iter: 300);

    [Fact]
    public void Random_garbage_is_rejected() =>
        Gen.Byte.Array[0, 200].Sample(garbage =>
        {
            AssertRejected(garbage);
            if (garbage.Length > 0)
            {
                garbage[0] = EntryFormat.Version; // get past the version check
                AssertRejected(garbage);
            }
        }, iter: 2000);

    [Fact]
    public void Garbage_with_a_valid_checksum_never_breaks_the_parser() =>
        Gen.Select(Gen.Byte.Array[0, 300], Codec, Gen.Int[0, 2000]).Sample((stored, codec, declared) =>
        {
            int decompressed = codec == CompressionCodec.None ? stored.Length : declared;
            AcceptedOrTypedRejection(Envelope(stored, codec, decompressed));
        }, iter: 3000);

    [Fact]
    public void Garbage_record_headers_with_a_valid_checksum_never_break_the_parser() =>
        Gen.Select(Gen.Byte.Array[0, 80], Gen.Long, Gen.Long, Gen.Int[-5, 100], Gen.Int[0, 7]).Sample((body, txId, position, length, flags) =>
        {
            byte[] record = new byte[LogRecord.HeaderSize + body.Length];
            BinaryPrimitives.WriteInt64BigEndian(record, (position & 0xFFFF_FFFFL) << 16 | (long)flags);
            BinaryPrimitives.WriteInt64BigEndian(record.AsSpan(8), txId);
            BinaryPrimitives.WriteInt32BigEndian(record.AsSpan(16), length);
            body.CopyTo(record, LogRecord.HeaderSize);
            AcceptedOrTypedRejection(Envelope(record, CompressionCodec.None, record.Length));
        }, iter: 3000);

    [Fact]
    public void Garbage_record_sets_with_a_valid_checksum_never_break_the_parser() =>
        Gen.Select(Gen.Byte.Array[0, 100], Gen.Int[-2, 30], Gen.Int[-2, 400], Codec, Gen.Bool).Sample((data, count, declared, codec, honest) =>
        {
            // A record-set record whose set header is partly honest and whose data is garbage (or framed but lying).
            byte[] set = new byte[RecordSetFormat.HeaderSize + data.Length];
            int decompressed = codec == CompressionCodec.None && honest ? data.Length : declared;
            BinaryPrimitives.WriteInt32BigEndian(set, RecordSetFormat.Version | (int)codec);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(4), count);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(8), decompressed);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(12), data.Length);
            data.CopyTo(set, RecordSetFormat.HeaderSize);

            byte[] record = new byte[LogRecord.HeaderSize + set.Length];
            BinaryPrimitives.WriteInt64BigEndian(record, (1L << 16) | (long)LogRecordFlags.RecordSet);
            BinaryPrimitives.WriteInt64BigEndian(record.AsSpan(8), 1);
            BinaryPrimitives.WriteInt32BigEndian(record.AsSpan(16), set.Length);
            set.CopyTo(record, LogRecord.HeaderSize);
            AcceptedOrTypedRejection(Envelope(record, CompressionCodec.None, record.Length));
        }, iter: 3000);

    [Fact]
    public void Lying_lz4_record_set_is_rejected_while_unpacking()
    {
        // A compressed set whose data decodes fine but whose framing disagrees with its count.
        byte[] inner = new byte[64];
        BinaryPrimitives.WriteInt32BigEndian(inner, 60); // one record of 60 bytes
        byte[] compressed = new byte[K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(inner.Length)];
        int n = K4os.Compression.LZ4.LZ4Codec.Encode(inner, compressed);
        foreach (int count in new[] { 2, 1 })
        {
            int declaredLength = count == 1 ? inner.Length : inner.Length;
            byte[] set = new byte[RecordSetFormat.HeaderSize + n];
            BinaryPrimitives.WriteInt32BigEndian(set, RecordSetFormat.Version | 1);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(4), count);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(8), declaredLength);
            BinaryPrimitives.WriteInt32BigEndian(set.AsSpan(12), n);
            compressed.AsSpan(0, n).CopyTo(set.AsSpan(RecordSetFormat.HeaderSize));
            byte[] record = new byte[LogRecord.HeaderSize + set.Length];
            BinaryPrimitives.WriteInt64BigEndian(record, (1L << 16) | (long)LogRecordFlags.RecordSet);
            BinaryPrimitives.WriteInt32BigEndian(record.AsSpan(16), set.Length);
            set.CopyTo(record, LogRecord.HeaderSize);
            byte[] entry = Envelope(record, CompressionCodec.None, record.Length);
            if (count == 1)
            {
                Assert.Single(Read(entry));
            }
            else
            {
                AssertRejected(entry);
            }
        }
    }

    private static void AcceptedOrTypedRejection(byte[] entry)
    {
        try
        {
            List<Decoded> records = Read(entry);
            // Whatever was accepted must be self-consistent: slots 0..n-1.
            for (int i = 0; i < records.Count; i++)
            {
                Assert.Equal(i, records[i].Slot);
                Assert.Equal(LogRecordFlags.None, records[i].Flags & LogRecordFlags.RecordSet);
            }
        }
        catch (Exception e) when (e is Errors.ChecksumFailedException or Errors.InvalidEnvelopedEntryException)
        {
        }
    }
}
