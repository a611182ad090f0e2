using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Tests;

/// <summary><see cref="LogRecordSetBuilder"/>, <see cref="RecordSetDlsns"/> and the header-only check <see cref="RecordSetFormat.ReadCount"/>.</summary>
public class LogRecordSetBuilderTests
{
    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public void A_built_set_is_one_record_whose_inner_records_read_back_with_consecutive_slots(CompressionCodec codec)
    {
        using var set = new LogRecordSetBuilder(codec);
        for (int i = 0; i < 100; i++)
        {
            set.Add(System.Text.Encoding.UTF8.GetBytes($"record {i:D3} and some repeated text repeated text"));
        }

        LogRecord record = set.Build(7);
        Assert.True(record.IsRecordSet);
        Assert.Equal(7, record.TxId);
        Assert.Equal(100, RecordSetFormat.ReadCount(record.Payload.Span));
        Assert.Equal(100, RecordSetFormat.Validate(record.Payload.Span));
        Assert.Equal(codec == CompressionCodec.Lz4 ? 1 : 0, BinaryPrimitives.ReadInt32BigEndian(record.Payload.Span) & 0x3);
        if (codec == CompressionCodec.Lz4)
        {
            Assert.True(record.PersistedSize < set.EstimatedRecordSize, "LZ4 should shrink repetitive text");
        }

        using var entry = new EntryWriter();
        Assert.True(entry.TryAdd(new LogRecord(6, "before"u8.ToArray()), 1));
        Assert.True(entry.TryAdd(record, 2));
        Assert.Equal(101, entry.SlotCount);
        var output = new ArrayBufferWriter<byte>();
        entry.Seal(CompressionCodec.None, output);
        var read = EntryReader.ReadAll(output.WrittenSpan, 3, 5, 0);
        var dlsns = new RecordSetDlsns(new Dlsn(3, 5, 1), 100);
        Assert.Equal(dlsns, read.Skip(1).Select(r => r.Dlsn));
        Assert.Equal("record 042 and some repeated text repeated text", System.Text.Encoding.UTF8.GetString(read[43].Payload.Span));
        Assert.Equal(Enumerable.Range(2, 100), read.Skip(1).Select(r => r.PositionWithinSegment));
        Assert.Equal(new Dlsn(3, 5, 100), dlsns.Last);
        Assert.Throws<ArgumentOutOfRangeException>(() => dlsns[100]);
    }

    [Fact]
    public void The_size_limit_counts_the_record_header_and_a_too_large_payload_is_refused()
    {
        using var set = new LogRecordSetBuilder(maxRecordSize: 1000);
        int added = 0;
        while (set.TryAdd(new byte[96]))
        {
            added++;
        }

        // 20 (record header) + 16 (set header) + n × (4 + 96) ≤ 1000.
        Assert.Equal(9, added);
        Assert.True(set.EstimatedRecordSize <= 1000);
        Assert.Equal(set.EstimatedRecordSize, set.Build(1).PersistedSize);
        Assert.Throws<LogRecordTooLongException>(() => set.Add(new byte[96]));
        Assert.Throws<LogRecordTooLongException>(() => set.TryAdd(new byte[1000 - 40 + 1]));
        set.Reset();
        Assert.True(set.TryAdd(new byte[1000 - 40]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogRecordSetBuilder(maxRecordSize: LogRecord.MaxRecordSize + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogRecordSetBuilder((CompressionCodec)2));
    }

    [Fact]
    public void A_full_default_set_fits_the_maximum_record_size()
    {
        using var set = new LogRecordSetBuilder();
        while (set.TryAdd(new byte[100]))
        {
        }

        Assert.Equal((LogRecord.MaxRecordSize - LogRecord.HeaderSize - RecordSetFormat.HeaderSize) / 104, set.Count);
        Assert.True(set.Build(1).PersistedSize <= LogRecord.MaxRecordSize);
    }

    [Fact]
    public void An_empty_set_cannot_be_built_and_the_header_check_refuses_no_records()
    {
        using var set = new LogRecordSetBuilder();
        Assert.Throws<InvalidOperationException>(() => set.Build(1));
        byte[] empty = new byte[RecordSetFormat.HeaderSize];
        BinaryPrimitives.WriteInt32BigEndian(empty, RecordSetFormat.Version);
        Assert.Equal(0, RecordSetFormat.Validate(empty));
        var error = Assert.Throws<InvalidEnvelopedEntryException>(() => RecordSetFormat.ReadCount(empty));
        Assert.Contains("no records", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Building_and_sealing_a_set_allocates_nothing_once_warm()
    {
        byte[] payload = new byte[100];
        byte[] destination = new byte[64 * 1024];
        using var set = new LogRecordSetBuilder(CompressionCodec.Lz4);

        int Build()
        {
            set.Reset();
            for (int i = 0; i < 100; i++)
            {
                set.TryAdd(payload);
            }

            return set.Seal(destination);
        }

        Build();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Build();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
