using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Tests.Readers;

public abstract class LogQueriesTests(ReaderCluster fixture)
{
    /// <summary>
    /// Segment 1: (1,0) txids 1 2 3 · control · (1,2) 4 + set of four 5s · (1,3) 6.
    /// Segment 2: control · (2,1) 10 11 · (2,2) set of three 12s · (2,3) 13 · control.
    /// Segment 3: (3,0) 20 · (3,1) 21 22 · [end of stream].
    /// </summary>
    private async Task<SegmentBuilder> ThreeSegmentsAsync(string hint, bool endOfStream)
    {
        var log = await fixture.NewLogAsync(hint);
        await log.StartSegmentAsync(1);
        await log.WriteAsync(1, 2, 3);
        await log.WriteControlAsync();
        await log.WriteWithRecordSetAsync([4], setTxId: 5, setSize: 4);
        await log.WriteAsync(6);
        await log.CompleteSegmentAsync();
        await log.StartSegmentAsync(10);
        await log.WriteControlAsync();
        await log.WriteAsync(10, 11);
        await log.WriteWithRecordSetAsync([], setTxId: 12, setSize: 3);
        await log.WriteAsync(13);
        await log.WriteControlAsync();
        await log.CompleteSegmentAsync();
        await log.StartSegmentAsync(20);
        await log.WriteAsync(20);
        await log.WriteAsync(21, 22);
        await log.CompleteSegmentAsync(endOfStream);
        return log;
    }

    [Fact]
    public async Task First_and_last_records_count_and_end_of_stream_of_a_sealed_log()
    {
        var log = await ThreeSegmentsAsync("sealed", endOfStream: true);
        var q = fixture.Queries;
        var last = await q.GetLastRecordAsync(log.Log);
        Assert.Equal(new Dlsn(3, 1, 1), last.Dlsn);
        Assert.Equal(22, last.TxId);
        Assert.Equal(17, last.SequenceId);
        Assert.False(last.IsControl);
        Assert.Equal(new Dlsn(3, 1, 1), await q.GetLastDlsnAsync(log.Log));
        Assert.Equal(22, await q.GetLastTxIdAsync(log.Log));
        Assert.Equal(new Dlsn(1, 0, 0), await q.GetFirstDlsnAsync(log.Log));
        Assert.Equal(1, (await q.GetFirstRecordAsync(log.Log)).TxId);
        Assert.Equal(18, await q.GetRecordCountAsync(log.Log));
        Assert.True(await q.IsEndOfStreamMarkedAsync(log.Log));
    }

    [Fact]
    public async Task Record_count_from_a_dlsn()
    {
        var log = await ThreeSegmentsAsync("count", endOfStream: false);
        var q = fixture.Queries;
        Assert.False(await q.IsEndOfStreamMarkedAsync(log.Log));
        foreach (var from in new[] { new Dlsn(1, 0, 0), new Dlsn(1, 2, 2), new Dlsn(1, 3, 5), new Dlsn(2, 0, 0), new Dlsn(2, 0, 1), new Dlsn(2, 2, 1), new Dlsn(3, 1, 1), new Dlsn(3, 9, 0), new Dlsn(7, 0, 0) })
        {
            Assert.Equal(log.Records.Count(r => r.Dlsn >= from), await q.GetRecordCountAsync(log.Log, from));
        }
    }

    [Fact]
    public async Task In_progress_segments_are_read_up_to_the_lac_without_recovery()
    {
        var log = await ThreeSegmentsAsync("inprogress", endOfStream: false);
        var q = fixture.Queries;
        await log.StartSegmentAsync(30);
        await log.WriteControlAsync();

        // Only a control record so far: the last user record is in segment 3.
        Assert.Equal(new Dlsn(3, 1, 1), await q.GetLastDlsnAsync(log.Log));
        Assert.Equal(18, await q.GetRecordCountAsync(log.Log));

        await log.WriteAsync(30, 31);
        await log.WriteControlAsync();
        await log.WriteAsync(32); // not yet covered by the LAC
        var last = await q.GetLastRecordAsync(log.Log);
        Assert.Equal((new Dlsn(4, 1, 1), 31L, 19L), (last.Dlsn, last.TxId, last.SequenceId));
        Assert.Equal(20, await q.GetRecordCountAsync(log.Log));
        Assert.Equal(new Dlsn(4, 1, 1), await q.GetDlsnNotLessThanTxIdAsync(log.Log, 31));
        Assert.Equal(new Dlsn(4, 1, 2), await q.GetDlsnNotLessThanTxIdAsync(log.Log, 32));

        await log.WriteControlAsync();
        Assert.Equal(32, await q.GetLastTxIdAsync(log.Log));
        Assert.Equal(21, await q.GetRecordCountAsync(log.Log));
        Assert.Equal(new Dlsn(4, 3, 0), await q.GetDlsnNotLessThanTxIdAsync(log.Log, 32));

        // The reader of the queries never fenced the writer: it keeps writing.
        await log.WriteAsync(33);
        await log.CompleteSegmentAsync();
        Assert.Equal(33, await q.GetLastTxIdAsync(log.Log));
    }

    [Fact]
    public async Task Dlsn_not_less_than_txid()
    {
        var log = await ThreeSegmentsAsync("dlsn-of-txid", endOfStream: true);
        var q = fixture.Queries;
        var expected = new (long TxId, Dlsn Dlsn)[]
        {
            (0, new Dlsn(1, 0, 0)),     // below the first txid: the first segment's start
            (1, new Dlsn(1, 0, 0)),
            (3, new Dlsn(1, 0, 2)),
            (5, new Dlsn(1, 2, 1)),     // first record of a record set
            (6, new Dlsn(1, 3, 0)),
            (7, new Dlsn(2, 1, 0)),     // between segments
            (12, new Dlsn(2, 2, 0)),
            (14, new Dlsn(3, 0, 0)),
            (22, new Dlsn(3, 1, 1)),
            (23, new Dlsn(3, 1, 2)),    // beyond the last record: last DLSN's next slot
            (long.MaxValue, new Dlsn(3, 1, 2)),
        };
        foreach (var (txId, dlsn) in expected)
        {
            Assert.Equal(dlsn, await q.GetDlsnNotLessThanTxIdAsync(log.Log, txId));
        }
    }

    [Fact]
    public async Task Truncated_records_are_not_counted_nor_returned()
    {
        var log = await ThreeSegmentsAsync("truncated-queries", endOfStream: false);
        var q = fixture.Queries;
        long ledger1 = await log.LedgerOfAsync(1);
        await log.MarkTruncatedAsync(1, TruncationStatus.Truncated);
        await log.MarkTruncatedAsync(2, TruncationStatus.PartiallyTruncated, new Dlsn(2, 2, 0));
        await fixture.Cluster.Client.DeleteLedgerAsync(ledger1);

        var first = await q.GetFirstRecordAsync(log.Log);
        Assert.Equal((new Dlsn(2, 2, 0), 12L), (first.Dlsn, first.TxId));
        Assert.Equal(7, await q.GetRecordCountAsync(log.Log));
        Assert.Equal(7, await q.GetRecordCountAsync(log.Log, Dlsn.Initial));
        Assert.Equal(3, await q.GetRecordCountAsync(log.Log, new Dlsn(3, 0, 0)));
        Assert.Equal(new Dlsn(2, 2, 0), await q.GetDlsnNotLessThanTxIdAsync(log.Log, 0));
        Assert.Equal(new Dlsn(2, 3, 0), await q.GetDlsnNotLessThanTxIdAsync(log.Log, 13));
        Assert.Equal(new Dlsn(3, 1, 1), await q.GetLastDlsnAsync(log.Log));
    }

    [Fact]
    public async Task Empty_and_missing_logs()
    {
        var q = fixture.Queries;
        var log = await fixture.NewLogAsync("empty");
        await Assert.ThrowsAsync<LogEmptyException>(() => q.GetLastRecordAsync(log.Log));
        await Assert.ThrowsAsync<LogEmptyException>(() => q.GetFirstDlsnAsync(log.Log));
        await Assert.ThrowsAsync<LogEmptyException>(() => q.GetDlsnNotLessThanTxIdAsync(log.Log, 5));
        Assert.Equal(0, await q.GetRecordCountAsync(log.Log));

        // A segment with only a control record holds no user record either.
        await log.StartSegmentAsync(1);
        await log.WriteControlAsync();
        await log.WriteControlAsync();
        await Assert.ThrowsAsync<LogEmptyException>(() => q.GetLastTxIdAsync(log.Log));
        Assert.Equal(0, await q.GetRecordCountAsync(log.Log));

        const string missing = "readers/missing";
        await Assert.ThrowsAsync<LogNotFoundException>(() => q.GetLastRecordAsync(missing));
        await Assert.ThrowsAsync<LogNotFoundException>(() => q.GetRecordCountAsync(missing));
        await Assert.ThrowsAsync<LogNotFoundException>(() => q.GetDlsnNotLessThanTxIdAsync(missing, 0));
        await Assert.ThrowsAsync<LogNotFoundException>(() => q.GetFirstDlsnAsync(missing));
    }
}

[Collection(SqliteReaderCollection.Name)]
public sealed class SqliteLogQueriesTests(SqliteReaderCluster fixture) : LogQueriesTests(fixture);

[Collection(EtcdReaderCollection.Name)]
public sealed class EtcdLogQueriesTests(EtcdReaderCluster fixture) : LogQueriesTests(fixture);
