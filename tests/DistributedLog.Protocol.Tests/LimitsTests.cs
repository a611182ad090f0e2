using System.Buffers;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using static DistributedLog.Protocol.Tests.TestEntries;

namespace DistributedLog.Protocol.Tests;

public class LimitsTests
{
    [Fact]
    public void Entry_accepts_a_record_of_max_size_and_refuses_one_byte_more()
    {
        using var writer = new EntryWriter();
        byte[] payload = new byte[LogRecord.MaxPayloadSize + 1];
        new Random(3).NextBytes(payload);
        Assert.Throws<LogRecordTooLongException>(() => writer.TryAdd(1, LogRecordFlags.None, payload, 1));
        Assert.Equal(0, writer.Count);

        Assert.True(writer.TryAdd(1, LogRecordFlags.None, payload.AsSpan(0, LogRecord.MaxPayloadSize), 1));
        Assert.Equal(EntryFormat.HeaderSize + LogRecord.MaxRecordSize, writer.EstimatedSize);
        foreach (CompressionCodec codec in new[] { CompressionCodec.None, CompressionCodec.Lz4 })
        {
            var output = new ArrayBufferWriter<byte>();
            writer.Seal(codec, output);
            Assert.True(output.WrittenCount <= LogRecord.MaxEntrySize);
            List<Decoded> back = Read(output.WrittenSpan);
            Assert.Single(back);
            Assert.True(back[0].Payload.AsSpan().SequenceEqual(payload.AsSpan(0, LogRecord.MaxPayloadSize)));
        }
    }

    [Fact]
    public void Entry_never_grows_beyond_max_entry_size()
    {
        using var writer = new EntryWriter();
        byte[] payload = new byte[100_000];
        int added = 0;
        while (writer.TryAdd(added, LogRecordFlags.None, payload, added + 1))
        {
            added++;
        }

        Assert.Equal(10, added);
        Assert.True(writer.EstimatedSize <= LogRecord.MaxEntrySize);
        Assert.True(writer.EstimatedSize + LogRecord.HeaderSize + payload.Length > LogRecord.MaxEntrySize);
        Assert.Equal(added, writer.Count);

        // Fill up to exactly the limit.
        int room = LogRecord.MaxEntrySize - writer.EstimatedSize - LogRecord.HeaderSize;
        Assert.False(writer.TryAdd(99, LogRecordFlags.None, new byte[room + 1], 99));
        Assert.True(writer.TryAdd(99, LogRecordFlags.None, new byte[room], 99));
        Assert.Equal(LogRecord.MaxEntrySize, writer.EstimatedSize);
        Assert.False(writer.TryAdd(100, LogRecordFlags.None, [], 100));

        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(LogRecord.MaxEntrySize, writer.Seal(CompressionCodec.None, output));
        Assert.Equal(added + 1, Read(output.WrittenSpan).Count);
    }

    [Fact]
    public void Record_set_stays_within_max_record_size()
    {
        using var set = new RecordSetWriter();
        byte[] payload = new byte[50_000];
        int added = 0;
        while (set.TryAdd(payload))
        {
            added++;
        }

        Assert.Equal(20, added);
        Assert.True(set.EstimatedRecordSize <= LogRecord.MaxRecordSize);
        Assert.Throws<LogRecordTooLongException>(() => set.TryAdd(new byte[LogRecord.MaxPayloadSize + 1]));

        using var empty = new RecordSetWriter();
        Assert.False(empty.TryAdd(new byte[LogRecord.MaxPayloadSize])); // too big to batch: write it plain

        using var writer = new EntryWriter();
        Assert.True(writer.TryAddRecordSet(set, 1, 1, CompressionCodec.None));
        Assert.False(writer.TryAddRecordSet(set, 2, 21)); // a second one does not fit
        var output = new ArrayBufferWriter<byte>();
        writer.Seal(CompressionCodec.None, output);
        Assert.Equal(added, Read(output.WrittenSpan).Count);
    }

    [Fact]
    public void Empty_record_set_and_bad_arguments_are_refused()
    {
        using var set = new RecordSetWriter();
        using var writer = new EntryWriter();
        Assert.Throws<ArgumentException>(() => writer.TryAddRecordSet(set, 1, 1));
        set.TryAdd([1]);
        Assert.Throws<TransactionIdOutOfOrderException>(() => writer.TryAddRecordSet(set, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.TryAdd(1, LogRecordFlags.None, [1], -1));
        Assert.Throws<TransactionIdOutOfOrderException>(() => writer.TryAdd(long.MaxValue, LogRecordFlags.None, [1], 1));
        Assert.Equal(0, writer.Count);
    }

    [Fact]
    public void Reader_refuses_a_declared_length_beyond_the_entry_limit()
    {
        // Correct checksum, but a decompressed length far beyond the limit: refused before any buffer is sized by it.
        byte[] entry = Envelope(new byte[10], CompressionCodec.Lz4, int.MaxValue);
        AssertRejected(entry);
        entry = Envelope(new byte[10], CompressionCodec.Lz4, EntryFormat.MaxPayloadSize + 1);
        AssertRejected(entry);
        entry = Envelope(new byte[10], CompressionCodec.Lz4, -5);
        AssertRejected(entry);
    }
}
