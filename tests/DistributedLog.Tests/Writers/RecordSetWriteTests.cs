using System.Text;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Writers;

/// <summary>
/// Record sets through the core writer (DistributedLog's <c>writeRecordSet</c>): written as one record, read back one by
/// one, each inner record with its own DLSN (consecutive slots of the set's entry), position and sequence id.
/// </summary>
public sealed class RecordSetWriteTests() : ClusterTestBase("record-sets")
{
    protected override string? MetadataUri => null;

    private static byte[] Payload(string text) => Encoding.UTF8.GetBytes(text);

    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public async Task SetsAndPlainRecordsInOneEntryReadBackOneByOneWithConsecutiveSlots(CompressionCodec codec)
    {
        var log = await NewLogAsync($"mixed-{codec}");
        // No eager send and a long flush interval: the four writes below share one entry, so the slots of the plain
        // record after the sets show whether each set took one slot per inner record.
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions { EagerFlushBelow = 0, FlushInterval = TimeSpan.FromMilliseconds(200) });

        using var first = new LogRecordSetBuilder(codec);
        for (int i = 0; i < 5; i++)
        {
            first.Add(Payload($"first set {i} " + new string('x', 40)));
        }

        var plainBefore = writer.WriteAsync(new LogRecord(1, Payload("plain before")));
        var firstSet = writer.WriteRecordSetAsync(first, 2);
        var secondSet = writer.WriteRecordSetAsync(3, [.. Enumerable.Range(0, 50).Select(i => (ReadOnlyMemory<byte>)Payload($"second set {i:D3} " + new string('y', 60)))], codec);
        var plainAfter = writer.WriteAsync(new LogRecord(4, Payload("plain after")));

        Dlsn before = await plainBefore;
        RecordSetDlsns firstDlsns = await firstSet;
        RecordSetDlsns secondDlsns = await secondSet;
        Dlsn after = await plainAfter;

        Assert.Equal(new Dlsn(before.LogSegmentSequenceNo, before.EntryId, 0), before);
        Assert.Equal(5, firstDlsns.Count);
        Assert.Equal(new Dlsn(before.LogSegmentSequenceNo, before.EntryId, 1), firstDlsns.First);
        Assert.Equal(new Dlsn(before.LogSegmentSequenceNo, before.EntryId, 6), secondDlsns.First);
        Assert.Equal(new Dlsn(before.LogSegmentSequenceNo, before.EntryId, 55), secondDlsns.Last);
        Assert.Equal(new Dlsn(before.LogSegmentSequenceNo, before.EntryId, 56), after);
        await writer.CloseAsync();

        await using var reader = await log.OpenReaderAsync(Dlsn.Initial);
        var read = await reader.ReadBulkAsync(1000, TimeSpan.FromSeconds(5));
        Assert.Equal(57, read.Count);
        Dlsn[] expected = [before, .. firstDlsns, .. secondDlsns, after];
        Assert.Equal(expected, read.Select(r => r.Dlsn));
        Assert.Equal(Enumerable.Range(1, 57), read.Select(r => r.PositionWithinSegment));
        Assert.Equal(Enumerable.Range(0, 57).Select(i => read[0].SequenceId + i), read.Select(r => r.SequenceId));
        Assert.Equal([1L, .. Enumerable.Repeat(2L, 5), .. Enumerable.Repeat(3L, 50), 4L], read.Select(r => r.TxId));
        Assert.All(read, r => Assert.Equal(LogRecordFlags.None, r.Flags & LogRecordFlags.RecordSet));
        Assert.Equal("first set 3 " + new string('x', 40), Encoding.UTF8.GetString(read[4].Payload.Span));
        Assert.Equal("second set 049 " + new string('y', 60), Encoding.UTF8.GetString(read[55].Payload.Span));
        Assert.Equal(57, await log.GetRecordCountAsync());
        Assert.Equal(after, await log.GetLastDlsnAsync());
    }

    [Fact]
    public async Task AMalformedSetIsRefusedUntakenAndTheWriterStaysUsable()
    {
        var log = await NewLogAsync("malformed");
        await using var writer = await log.OpenWriterAsync();
        using var set = new LogRecordSetBuilder();
        set.Add(Payload("a"));
        set.Add(Payload("b"));
        byte[] payload = set.ToPayload();
        payload[7] = 3; // the count says 3 records; the data holds 2

        var bad = writer.WriteAsync(new LogRecord(1, payload, LogRecordFlags.RecordSet), out bool taken);
        Assert.False(taken);
        var error = await Assert.ThrowsAsync<InvalidEnvelopedEntryException>(async () => await bad);
        Assert.Contains("declares 3 records", error.Message, StringComparison.Ordinal);

        var good = await writer.WriteRecordSetAsync(set, 2);
        Assert.Equal(2, good.Count);
        Assert.Equal(good.First.SlotId + 1, good.Last.SlotId);
        Assert.Null(writer.Failure);
    }
}
