using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using static DistributedLog.Protocol.Tests.TestEntries;

namespace DistributedLog.Protocol.Tests;

public class EntryCodecTests
{
    [Fact]
    public void Mixed_entries_round_trip_with_both_codecs() =>
        Gen.Select(Items, Codec, Gen.Int[1, 1000]).Sample((items, codec, first) =>
        {
            byte[] entry = Write(items, codec, first);
            AssertSame(Expected(items, first), Read(entry));
        }, iter: 300);

    [Fact]
    public void Plain_records_round_trip_uncompressed() =>
        PlainItem.Array[0, 30].Sample(items =>
        {
            byte[] entry = Write(items, CompressionCodec.None);
            Assert.Equal(EntryFormat.HeaderSize + items.Sum(i => LogRecord.HeaderSize + i.Payload.Length), entry.Length);
            AssertSame(Expected(items), Read(entry));
        }, iter: 200);

    [Fact]
    public void Record_sets_round_trip_with_every_codec_combination() =>
        Gen.Select(SetItem.Array[1, 5], Codec, Codec).Sample((sets, setCodec, entryCodec) =>
        {
            Item[] items = sets.Select(s => s with { SetCodec = setCodec }).ToArray();
            AssertSame(Expected(items), Read(Write(items, entryCodec)));
        }, iter: 200);

    [Fact]
    public void Lz4_shrinks_compressible_entries_and_stores_raw_otherwise()
    {
        Item[] compressible = [.. Enumerable.Range(0, 50).Select(i => new Item(i, LogRecordFlags.None, new byte[100], null, CompressionCodec.None))];
        byte[] raw = Write(compressible, CompressionCodec.None);
        byte[] lz4 = Write(compressible, CompressionCodec.Lz4);
        Assert.True(lz4.Length < raw.Length / 4);
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(lz4.AsSpan(1)));
        AssertSame(Expected(compressible), Read(lz4));

        byte[] noise = new byte[2000];
        new Random(7).NextBytes(noise);
        Item[] incompressible = [new Item(1, LogRecordFlags.None, noise, null, CompressionCodec.None)];
        byte[] stored = Write(incompressible, CompressionCodec.Lz4);
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(stored.AsSpan(1))); // fell back to none
        AssertSame(Expected(incompressible), Read(stored));
    }

    [Fact]
    public void Envelope_layout_is_as_documented()
    {
        byte[] entry = Write([new Item(42, LogRecordFlags.None, [9, 8, 7], null, CompressionCodec.None)], CompressionCodec.None, 5);
        Assert.Equal(EntryFormat.HeaderSize + LogRecord.HeaderSize + 3, entry.Length);
        Assert.Equal(2, entry[0]);
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(entry.AsSpan(1)));
        Assert.Equal(23, BinaryPrimitives.ReadInt32BigEndian(entry.AsSpan(5)));
        Assert.Equal(23, BinaryPrimitives.ReadInt32BigEndian(entry.AsSpan(9)));
        ReadOnlySpan<byte> record = entry.AsSpan(EntryFormat.HeaderSize);
        Assert.Equal(5L << 16, BinaryPrimitives.ReadInt64BigEndian(record)); // no flags, position 5
        Assert.Equal(42L, BinaryPrimitives.ReadInt64BigEndian(record[8..]));
        Assert.Equal(3, BinaryPrimitives.ReadInt32BigEndian(record[16..]));
        Assert.Equal([9, 8, 7], record[20..].ToArray());
    }

    [Fact]
    public void Control_and_end_of_stream_records_keep_their_flags()
    {
        using var writer = new EntryWriter();
        Assert.True(writer.TryAdd(LogRecord.CreateControl(7), 1));
        Assert.True(writer.TryAdd(LogRecord.CreateEndOfStream(), 2));
        var output = new ArrayBufferWriter<byte>();
        writer.Seal(CompressionCodec.None, output);
        List<LogRecordWithDlsn> records = EntryReader.ReadAll(output.WrittenSpan, 3, 9, 100);
        Assert.Equal(2, records.Count);
        Assert.True(records[0].IsControl);
        Assert.False(records[0].IsEndOfStream);
        Assert.Equal(7, records[0].TxId);
        Assert.Equal("control"u8.ToArray(), records[0].Payload.ToArray());
        Assert.True(records[1].IsControl && records[1].IsEndOfStream);
        Assert.Equal(long.MaxValue, records[1].TxId);
        Assert.Equal("endOfStream"u8.ToArray(), records[1].Payload.ToArray());
        Assert.Equal(new Dlsn(3, 9, 1), records[1].Dlsn);
        Assert.Equal(101, records[1].SequenceId); // 100 + position 2 - 1
        Assert.Equal(2, records[1].PositionWithinSegment);
    }

    [Fact]
    public void Record_set_slots_and_positions_follow_inner_records()
    {
        using var set = new RecordSetWriter();
        Assert.True(set.TryAdd("a"u8));
        Assert.True(set.TryAdd("bb"u8));
        Assert.True(set.TryAdd(""u8));
        using var writer = new EntryWriter();
        Assert.True(writer.TryAdd(5, LogRecordFlags.None, "x"u8, 10));
        Assert.True(writer.TryAddRecordSet(set, 6, 11));
        Assert.True(writer.TryAdd(7, LogRecordFlags.None, "y"u8, 14));
        Assert.Equal(3, writer.Count);
        Assert.Equal(5, writer.SlotCount);
        var output = new ArrayBufferWriter<byte>();
        writer.Seal(CompressionCodec.Lz4, output);
        List<LogRecordWithDlsn> records = EntryReader.ReadAll(output.WrittenSpan, 2, 4, 0);
        Assert.Equal([0L, 1, 2, 3, 4], records.Select(r => r.Dlsn.SlotId));
        Assert.Equal([10, 11, 12, 13, 14], records.Select(r => r.PositionWithinSegment));
        Assert.Equal([5L, 6, 6, 6, 7], records.Select(r => r.TxId));
        Assert.Equal(["x", "a", "bb", "", "y"], records.Select(r => System.Text.Encoding.ASCII.GetString(r.Payload.Span)));
        Assert.All(records, r => Assert.Equal(LogRecordFlags.None, r.Flags));
    }

    [Fact]
    public void A_sealed_record_set_can_be_added_as_a_raw_record()
    {
        using var set = new RecordSetWriter();
        for (int i = 0; i < 10; i++)
        {
            Assert.True(set.TryAdd(new byte[50]));
        }

        var sealedSet = new ArrayBufferWriter<byte>();
        set.Seal(CompressionCodec.Lz4, sealedSet);
        Assert.True(sealedSet.WrittenCount < set.EstimatedSize);

        using var writer = new EntryWriter();
        Assert.True(writer.TryAdd(1, LogRecordFlags.RecordSet, sealedSet.WrittenSpan, 1));
        Assert.Equal(10, writer.SlotCount);
        var output = new ArrayBufferWriter<byte>();
        writer.Seal(CompressionCodec.None, output);
        Assert.Equal(10, EntryReader.ReadAll(output.WrittenSpan, 1, 0, 0).Count);

        byte[] truncated = sealedSet.WrittenSpan[..^1].ToArray();
        Assert.Throws<InvalidEnvelopedEntryException>(() => writer.TryAdd(1, LogRecordFlags.RecordSet, truncated, 11));
        byte[] badCount = sealedSet.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(badCount.AsSpan(4), 9);
        Assert.Throws<InvalidEnvelopedEntryException>(() => writer.TryAdd(1, LogRecordFlags.RecordSet, badCount, 11));
        Assert.Equal(10, writer.SlotCount);
    }

    [Fact]
    public void Empty_entry_round_trips()
    {
        foreach (CompressionCodec codec in new[] { CompressionCodec.None, CompressionCodec.Lz4 })
        {
            byte[] entry = Write([], codec);
            Assert.Equal(EntryFormat.HeaderSize, entry.Length);
            Assert.Empty(Read(entry));
        }
    }

    [Fact]
    public void Writer_and_reader_are_reusable()
    {
        using var writer = new EntryWriter(0);
        using var reader = new EntryReader();
        var output = new ArrayBufferWriter<byte>();
        Gen.Select(PlainItem.Array[1, 10], Codec).Sample((items, codec) =>
        {
            writer.Reset();
            output.ResetWrittenCount();
            int position = 1;
            foreach (Item item in items)
            {
                Assert.True(writer.TryAdd(item.TxId, item.Flags, item.Payload, position++));
            }

            writer.Seal(codec, output);
            AssertSame(Expected(items), Read(output.WrittenSpan, reader));
        }, iter: 100, threads: 1);
    }

    [Fact]
    public void Seal_into_a_span_matches_seal_into_a_buffer_writer()
    {
        using var writer = new EntryWriter();
        for (int i = 0; i < 20; i++)
        {
            Assert.True(writer.TryAdd(i, LogRecordFlags.None, new byte[30], i + 1));
        }

        var output = new ArrayBufferWriter<byte>();
        int n = writer.Seal(CompressionCodec.Lz4, output);
        byte[] span = new byte[writer.EstimatedSize];
        Assert.Equal(n, writer.Seal(CompressionCodec.Lz4, span));
        Assert.Equal(output.WrittenSpan.ToArray(), span[..n]);
        Assert.Throws<ArgumentException>(() => writer.Seal(CompressionCodec.None, new byte[writer.EstimatedSize - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Seal((CompressionCodec)3, span));
    }

    [Fact]
    public void Reading_another_entry_ends_the_previous_enumeration()
    {
        byte[] entry = Write([new Item(1, LogRecordFlags.None, [1], null, CompressionCodec.None), new Item(2, LogRecordFlags.None, [2], null, CompressionCodec.None)], CompressionCodec.None);
        using var reader = new EntryReader();
        EntryRecordEnumerator first = reader.Read(entry);
        Assert.True(first.MoveNext());
        _ = reader.Read(entry);
        bool threw = false;
        try
        {
            first.MoveNext();
        }
        catch (InvalidOperationException)
        {
            threw = true;
        }

        Assert.True(threw);
        reader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => reader.Read(entry));
    }

    [Fact]
    public void Default_enumerator_is_empty()
    {
        EntryRecordEnumerator none = default;
        Assert.False(none.MoveNext());
        Assert.Equal(0, none.Count);
    }
}
