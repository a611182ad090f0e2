using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using DistributedLog.Testing;
using DistributedLog.Writers;
using Microsoft.Extensions.Time.Testing;

namespace DistributedLog.Tests.Segments;

public abstract class LogTruncationTests() : ClusterTestBase("truncation")
{
    /// <summary>A log with three completed segments of 10 records each and an in-progress fourth; returns every DLSN.</summary>
    private async Task<(LogManager Log, AsyncLogWriter Writer, List<Dlsn> Dlsns)> LogWithSegmentsAsync(string name)
    {
        await Namespace.CreateLogAsync(name);
        var log = Namespace.OpenLog(name);
        var writer = await log.OpenWriterAsync(new LogWriterOptions { MaxSegmentBytes = 250 });
        var dlsns = new List<Dlsn>();
        for (long t = 0; t < 40; t++)
        {
            dlsns.Add(await writer.WriteAsync(new LogRecord(t, Encoding.UTF8.GetBytes($"r{t:D3}"))));
        }

        return (log, writer, dlsns);
    }

    [Fact]
    public async Task Truncation_marks_older_segments_and_never_the_in_progress_one()
    {
        var (log, writer, dlsns) = await LogWithSegmentsAsync("t1");
        await using var _ = writer;
        var before = await log.GetSegmentsAsync();
        Assert.True(before.Count >= 3);
        Assert.True(before[^1].IsInProgress);

        // Truncate inside the second segment.
        var inSecond = dlsns.First(d => d.LogSegmentSequenceNo == 2 && d.EntryId > 0);
        Assert.True(await writer.TruncateAsync(inSecond));
        var after = await log.GetSegmentsAsync();
        Assert.Equal(TruncationStatus.Truncated, after[0].Truncation);
        Assert.Equal(TruncationStatus.PartiallyTruncated, after[1].Truncation);
        Assert.Equal(inSecond.ToString(), after[1].MinActiveDlsn);
        Assert.All(after.Skip(2), s => Assert.Equal(TruncationStatus.Active, s.Truncation));

        // The truncated segment's ledger is deleted; its record stays.
        var missing = await Assert.ThrowsAsync<DlException>(() => Cluster.Client.OpenLedgerNoRecoveryAsync(after[0].LedgerId));
        Assert.Equal(StatusCode.NoSuchLedger, missing.Code);

        // Truncating beyond the last record is refused, naming both positions, and changes nothing ("--before 999:0:0"
        // used to delete every completed segment without a word).
        await writer.CommitAsync();
        var beyond = await Assert.ThrowsAsync<DlException>(() => log.TruncateAsync(new Dlsn(999, 0, 0)));
        Assert.Equal(StatusCode.BadRequest, beyond.Code);
        Assert.Contains("999:0:0", beyond.Message, StringComparison.Ordinal);
        Assert.Contains(dlsns[^1].ToString(), beyond.Message, StringComparison.Ordinal);
        Assert.Equal(TruncationStatus.Active, (await log.GetSegmentsAsync())[2].Truncation);
        await Assert.ThrowsAsync<DlException>(() => writer.TruncateAsync(dlsns[^1].Next()));

        // Up to the last record is allowed: the completed segments go, the in-progress one stays; InvalidDLSN does nothing.
        Assert.True(await writer.TruncateAsync(dlsns[^1]));
        Assert.True((await log.GetSegmentsAsync())[^1] is { IsInProgress: true, Truncation: TruncationStatus.Active });
        Assert.All((await log.GetSegmentsAsync()).SkipLast(1), s => Assert.Equal(TruncationStatus.Truncated, s.Truncation));
        Assert.False(await log.TruncateAsync(Dlsn.Invalid));
    }

    [Fact]
    public async Task Retention_purges_completed_segments_older_than_the_period()
    {
        var (log, writer, _) = await LogWithSegmentsAsync("t2");
        await using var _ = writer;
        // Two hours later (the writer keeps real time; only the purge looks at the fake clock).
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromHours(2));
        int purged = await log.PurgeOlderThanAsync(TimeSpan.FromHours(1), time);
        var segments = await log.GetSegmentsAsync();
        Assert.Equal(segments.Count(s => !s.IsInProgress), purged);
        Assert.All(segments.Where(s => !s.IsInProgress), s => Assert.Equal(TruncationStatus.Truncated, s.Truncation));
        Assert.Equal(0, await log.PurgeOlderThanAsync(TimeSpan.FromHours(1), time));
    }
}

public sealed class SqliteLogTruncationTests : LogTruncationTests
{
    protected override string? MetadataUri => null;
}

public sealed class EtcdLogTruncationTests(EtcdServer etcd) : LogTruncationTests, IClassFixture<EtcdServer>
{
    protected override string? MetadataUri { get; } = etcd.NewStoreUri();
}
