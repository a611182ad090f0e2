using System.Buffers.Binary;
using System.Text;
using CsCheck;
using DistributedLog.Fuzzing;
using DistributedLog.Protocol.Checksums;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using static DistributedLog.Protocol.Tests.TestEntries;

namespace DistributedLog.Protocol.Tests.Fuzz;

/// <summary>
/// Fuzzes the protocol decoders (entry envelopes, record framing, record sets with and without LZ4, DLSN text and binary
/// forms) over random bytes and mutated valid encodings. Properties: a decoder either accepts (and then what it yields is
/// self-consistent) or raises its documented error type — never another exception; it finishes (each test has a timeout);
/// and it never allocates from a declared length it has not checked (each decode allocates less than
/// <see cref="AllocationBound"/>, well below what an unchecked 2 GB length prefix would cost, and inputs declaring huge
/// lengths allocate almost nothing).
/// </summary>
public sealed class DecoderFuzzTests
{
    /// <summary>Most a single decode may allocate: the decoders' own limits are about 1 MiB.</summary>
    private const long AllocationBound = 3L << 20;

    private const int Iterations = 2500;

    private static readonly Gen<byte[]> ValidEntries =
        Gen.Select(Items, Codec, (items, codec) => Write(items, codec));

    // ---------------------------------------------------------------- entries

    [Fact(Timeout = 60_000)]
    public Task Random_and_mutated_entries_raise_only_entry_errors() => Task.Run(() =>
        Mutations.OrRandom(ValidEntries).Sample(entry => DecodeEntry(entry), iter: Iterations));

    [Fact(Timeout = 60_000)]
    public Task Mutated_entries_with_a_valid_checksum_raise_only_entry_errors() => Task.Run(() =>
        Gen.Select(Mutations.Of(ValidEntries), Gen.Bool).Sample((entry, fixLength) => DecodeEntry(Reseal(entry, fixLength)), iter: Iterations));

    [Fact(Timeout = 60_000)]
    public Task Mutated_record_payloads_recompressed_with_lz4_raise_only_entry_errors() => Task.Run(() =>
        // Damage the decompressed record region, then compress and seal it properly: this reaches the record framing and
        // the record-set decoders behind a perfectly valid LZ4 envelope.
        Mutations.Of(Gen.Select(Items, items => Write(items, CompressionCodec.None)[EntryFormat.HeaderSize..]))
            .Sample(payload => DecodeEntry(Envelope(payload, CompressionCodec.Lz4)), iter: Iterations));

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(EntryFormat.MaxPayloadSize + 1)]
    public void Huge_declared_lengths_are_refused_before_anything_is_allocated(int declared)
    {
        // Every length field an entry carries, in turn set to the declared value, with the checksum made valid again.
        Item[] items = [new Item(7, LogRecordFlags.None, new byte[50], null, CompressionCodec.None),
            new Item(8, LogRecordFlags.RecordSet, [], [new byte[20], new byte[30]], CompressionCodec.None)];
        byte[] valid = Write(items, CompressionCodec.None);
        int firstRecord = EntryFormat.HeaderSize;
        int setRecord = firstRecord + LogRecord.HeaderSize + 50;
        int setHeader = setRecord + LogRecord.HeaderSize;
        int[] fields =
        [
            5, // envelope: decompressed length
            9, // envelope: stored length
            firstRecord + 16, // record: payload length
            setRecord + 16, // record-set record: payload length
            setHeader + 4, // set: count
            setHeader + 8, // set: decompressed length
            setHeader + 12, // set: stored length
            setHeader + RecordSetFormat.HeaderSize, // set: first inner record's length
        ];
        using var reader = new EntryReader();
        foreach (int field in fields)
        {
            foreach (var codec in new[] { CompressionCodec.None, CompressionCodec.Lz4 })
            {
                byte[] entry = (byte[])valid.Clone();
                BinaryPrimitives.WriteInt32BigEndian(entry.AsSpan(field), declared);
                if (codec == CompressionCodec.Lz4)
                {
                    entry = field is 5 or 9 ? SetCodec(entry, codec) : Envelope(entry[EntryFormat.HeaderSize..], codec);
                }

                entry = Reseal(entry, fixStoredLength: field != 9);
                long before = GC.GetAllocatedBytesForCurrentThread();
                Exception? error = Record.Exception(() => Drain(reader, entry));
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(error is InvalidEnvelopedEntryException or ChecksumFailedException,
                    $"field at {field} = {declared} ({codec}): {error?.GetType().Name ?? "accepted"}: {error?.Message}");
                Assert.True(allocated < 64 * 1024, $"field at {field} = {declared} ({codec}) allocated {allocated} bytes");
            }
        }
    }

    // ---------------------------------------------------------------- DLSNs

    private static readonly Gen<string> ValidDlsnText = Gen.Select(Gen.Long, Gen.Long, Gen.Long, Gen.Bool,
        (l, e, s, base64) => base64 ? new Dlsn(l, e, s).ToBase64() : new Dlsn(l, e, s).ToString());

    private static readonly Gen<string> DlsnText = Gen.Frequency(
        (2, Gen.String[Gen.Char["0123456789:-+=/_ABCxyz \t\u00e9\u0660"], 0, 80]),
        (1, Gen.String[0, 100]),
        (4, Mutations.Of(ValidDlsnText.Select(t => Encoding.UTF8.GetBytes(t))).Select(b => Encoding.UTF8.GetString(b))));

    [Fact(Timeout = 60_000)]
    public Task Dlsn_text_parsers_raise_only_FormatException_and_agree() => Task.Run(() =>
        DlsnText.Sample(text =>
        {
            bool parsed = Dlsn.TryParse(text, out Dlsn value);
            Exception? error = Record.Exception(() => Dlsn.Parse(text));
            Assert.True(parsed ? error is null : error is FormatException, $"'{text}': TryParse {parsed}, Parse {error?.GetType().Name}");
            if (parsed)
            {
                Assert.Equal(value, Dlsn.Parse(text));
            }

            // The UTF-8 parser agrees with the char parser on ASCII text and rejects the rest without throwing.
            byte[] utf8 = Encoding.UTF8.GetBytes(text);
            bool parsedUtf8 = Dlsn.TryParse(utf8, out Dlsn utf8Value);
            Assert.Equal(parsed && Ascii.IsValid(text), parsedUtf8);
            if (parsedUtf8)
            {
                Assert.Equal(value, utf8Value);
            }

            Exception? utf8Error = Record.Exception(() => Dlsn.Parse(utf8.AsSpan()));
            Assert.True(parsedUtf8 ? utf8Error is null : utf8Error is FormatException, $"utf8 '{text}': {utf8Error?.GetType().Name}");
        }, iter: Iterations));

    [Fact(Timeout = 60_000)]
    public Task Dlsn_binary_form_raises_only_FormatException() => Task.Run(() =>
        Mutations.OrRandom(Gen.Select(Gen.Long, Gen.Long, Gen.Long, (l, e, s) => new Dlsn(l, e, s).ToBytes())).Sample(bytes =>
        {
            bool read = Dlsn.TryRead(bytes, out Dlsn value);
            Assert.Equal(bytes.Length == Dlsn.SerializedSize && bytes[0] == Dlsn.SerializationVersion, read);
            Exception? error = Record.Exception(() => Dlsn.FromBytes(bytes));
            Assert.True(read ? error is null : error is FormatException, error?.ToString());
            if (read)
            {
                Assert.Equal(bytes, value.ToBytes());
            }
        }, iter: Iterations));

    // ---------------------------------------------------------------- helpers

    [ThreadStatic]
    private static EntryReader? t_reader;

    /// <summary>Decodes one entry on this thread's reader; enforces the error-type and allocation properties.</summary>
    private static void DecodeEntry(byte[] entry)
    {
        // A reused reader, as in production: its pooled scratch is warm, so allocations measure the decoder itself.
        var reader = t_reader ??= new EntryReader();
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            Drain(reader, entry);
        }
        catch (Exception e) when (e is InvalidEnvelopedEntryException or ChecksumFailedException)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < AllocationBound, $"decoding {entry.Length} bytes allocated {allocated} bytes");
    }

    /// <summary>Enumerates every record; what was accepted must be self-consistent (as many records as counted, slots 0..n-1).</summary>
    private static void Drain(EntryReader reader, byte[] entry)
    {
        EntryRecordEnumerator records = reader.Read(entry);
        int count = records.Count;
        long slot = 0;
        foreach (LogRecordView record in records)
        {
            if (record.SlotId != slot++ || (record.Flags & LogRecordFlags.RecordSet) != 0 || record.TxId < 0)
            {
                throw new InvalidOperationException($"inconsistent record: slot {record.SlotId}, flags {record.Flags}, txid {record.TxId}");
            }
        }

        if (slot != count)
        {
            throw new InvalidOperationException($"the entry counted {count} records but yielded {slot}");
        }
    }

    /// <summary>Recomputes an entry's checksum (and optionally its stored length) after a mutation.</summary>
    private static byte[] Reseal(byte[] entry, bool fixStoredLength)
    {
        if (entry.Length < EntryFormat.HeaderSize)
        {
            return entry;
        }

        if (fixStoredLength)
        {
            BinaryPrimitives.WriteInt32BigEndian(entry.AsSpan(9), entry.Length - EntryFormat.HeaderSize);
        }

        uint crc = Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Start(), entry.AsSpan(0, 13)), entry.AsSpan(EntryFormat.HeaderSize)));
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(13), crc);
        return entry;
    }

    private static byte[] SetCodec(byte[] entry, CompressionCodec codec)
    {
        BinaryPrimitives.WriteInt32BigEndian(entry.AsSpan(1), (int)codec);
        return entry;
    }

    /// <summary>A valid envelope around <paramref name="payload"/> (the decompressed record bytes).</summary>
    private static byte[] Envelope(byte[] payload, CompressionCodec codec)
    {
        byte[] stored = payload;
        if (codec == CompressionCodec.Lz4)
        {
            byte[] target = new byte[K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(payload.Length)];
            int n = payload.Length == 0 ? 0 : K4os.Compression.LZ4.LZ4Codec.Encode(payload, target);
            stored = target[..n];
        }

        byte[] entry = new byte[EntryFormat.HeaderSize + stored.Length];
        stored.CopyTo(entry, EntryFormat.HeaderSize);
        EntryFormat.WriteHeader(entry, codec, payload.Length, stored.Length);
        return entry;
    }
}
