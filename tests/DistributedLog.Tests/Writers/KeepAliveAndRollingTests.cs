using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Segments;
using DistributedLog.Writers;
using Microsoft.Extensions.Time.Testing;

namespace DistributedLog.Tests.Writers;

/// <summary>
/// Idle writers' keep-alive control records against a tailing reader's idle error, time-based segment rolling driven by
/// a fake clock, and the retention policy over the segments it produced — over in-process bookies and the embedded store.
/// </summary>
public sealed class KeepAliveAndRollingTests() : ClusterTestBase("keepalive")
{
    protected override string? MetadataUri => null;

    private static readonly TimeSpan IdleThreshold = TimeSpan.FromSeconds(3);

    private static LogRecord Record(long txId) => new(txId, Encoding.UTF8.GetBytes($"record {txId}"));

    private static LogReaderOptions Tailing() => new() { IdleReaderErrorThreshold = IdleThreshold };

    [Fact]
    public async Task An_idle_writer_with_keep_alive_keeps_a_tailing_reader_alive_until_it_stops()
    {
        var log = await NewLogAsync("alive");
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions { KeepAliveInterval = TimeSpan.FromMilliseconds(250) });
        await using var reader = await log.OpenReaderAsync(1L, Tailing());
        await writer.WriteAsync(Record(1));
        Assert.Equal(1, (await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30))).TxId);

        // The writer is quiet for twice the idle threshold: the reader waits without failing.
        var pending = reader.ReadNextAsync().AsTask();
        await Task.WhenAny(pending, Task.Delay(2 * IdleThreshold));
        Assert.False(pending.IsCompleted, $"the tailing read must still wait, got {(pending.IsFaulted ? pending.Exception!.InnerException : "a record")}");

        // And it gets the next record.
        await writer.WriteAsync(Record(2));
        Assert.Equal(2, (await pending.WaitAsync(TimeSpan.FromSeconds(30))).TxId);

        // A writer that stopped (crashed: its segment left in progress) sends no more keep-alives: the reader goes idle.
        pending = reader.ReadNextAsync().AsTask();
        await writer.AbortAsync();
        await Assert.ThrowsAsync<IdleReaderException>(() => pending.WaitAsync(IdleThreshold + TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Without_keep_alive_a_quiet_writer_makes_the_tailing_reader_idle()
    {
        var log = await NewLogAsync("quiet");
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions());
        await using var reader = await log.OpenReaderAsync(1L, Tailing());
        await writer.WriteAsync(Record(1));
        Assert.Equal(1, (await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30))).TxId);
        await Assert.ThrowsAsync<IdleReaderException>(() => reader.ReadNextAsync().AsTask().WaitAsync(IdleThreshold + TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Time_based_rolling_puts_writes_across_the_interval_in_separate_segments_read_in_order()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var start = time.GetUtcNow();
        var log = await NewLogAsync("rolling");
        var writer = await log.OpenWriterAsync(new LogWriterOptions
        {
            SegmentRollingInterval = TimeSpan.FromMinutes(1),
            TimeProvider = time,
            ImmediateFlush = true,
            CommitOnIdle = false,
        });
        long txId = 0;
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 5; i++)
            {
                await writer.WriteAsync(Record(++txId));
            }

            time.Advance(TimeSpan.FromSeconds(61)); // the next write rolls
        }

        await writer.WriteAsync(Record(++txId));
        var segments = await log.GetSegmentsAsync();
        Assert.Equal(4, segments.Count);
        Assert.All(segments.Take(3), s => Assert.False(s.IsInProgress));
        Assert.True(segments[3].IsInProgress);
        Assert.Equal([5L, 5L, 5L], segments.Take(3).Select(s => s.RecordCount));
        Assert.Equal([1L, 6L, 11L, 16L], segments.Select(s => s.FirstTxId));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(start + TimeSpan.FromSeconds(61 * (i + 1)), segments[i].CompletionTime);
        }

        await writer.CloseAsync();
        await writer.DisposeAsync();
        await using (var reader = await log.OpenReaderAsync(1L))
        {
            var read = new List<LogRecordWithDlsn>();
            for (int i = 0; i < 16; i++)
            {
                read.Add(await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
            }

            Assert.Equal(Enumerable.Range(1, 16).Select(i => (long)i), read.Select(r => r.TxId));
            Assert.Equal([1L, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4], read.Select(r => r.Dlsn.LogSegmentSequenceNo));
            Assert.All(read, r => Assert.Equal($"record {r.TxId}", Encoding.UTF8.GetString(r.Payload.Span)));
        }

        await RetentionOverTheRolledSegmentsAsync(log, time.GetUtcNow());
    }

    /// <summary>
    /// The four completed segments were completed at +61 s, +122 s, +183 s and +183 s (closed). Retention by age removes
    /// the oldest first, keeps the last completed segment unless told otherwise, and by size removes the oldest until the
    /// rest fit.
    /// </summary>
    private static async Task RetentionOverTheRolledSegmentsAsync(LogManager log, DateTimeOffset now)
    {
        Assert.Equal(0, await log.ApplyRetentionAsync(RetentionPolicy.KeepForever, now + TimeSpan.FromDays(365)));
        Assert.Equal(1, await log.ApplyRetentionAsync(new RetentionPolicy { MaxAge = TimeSpan.FromSeconds(100) }, now));
        Assert.Equal([TruncationStatus.Truncated, TruncationStatus.Active, TruncationStatus.Active, TruncationStatus.Active],
            (await log.GetSegmentsAsync()).Select(s => s.Truncation));

        // Size: each segment holds 5 small records; a limit of one segment's bytes leaves only the last one.
        Assert.Equal(2, await log.ApplyRetentionAsync(new RetentionPolicy { MaxBytesPerLog = 1 }, now));
        Assert.Equal([TruncationStatus.Truncated, TruncationStatus.Truncated, TruncationStatus.Truncated, TruncationStatus.Active],
            (await log.GetSegmentsAsync()).Select(s => s.Truncation));

        // Far past any age: the last completed segment still stays, unless the policy lets it go.
        Assert.Equal(0, await log.ApplyRetentionAsync(new RetentionPolicy { MaxAge = TimeSpan.FromSeconds(1) }, now + TimeSpan.FromHours(1)));
        Assert.Equal(1, await log.ApplyRetentionAsync(new RetentionPolicy { MaxAge = TimeSpan.FromSeconds(1), KeepLastCompletedSegment = false },
            now + TimeSpan.FromHours(1)));
        Assert.All(await log.GetSegmentsAsync(), s => Assert.Equal(TruncationStatus.Truncated, s.Truncation));
    }
}
