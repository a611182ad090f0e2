using System.Diagnostics;
using System.Globalization;
using DistributedLog.Client;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Proxy.Tests.Cluster;

/// <summary>
/// Disk space really comes back: bookie processes with fast storage garbage collection and 1 MiB entry logs, one
/// <c>dlog proxy</c> process rolling 1 MiB segments; after an explicit truncation, and after the proxy's own retention
/// (<c>--retention-hours</c>), the bookies' entry-log files shrink by the deleted segments.
/// </summary>
public sealed class RetentionClusterTests(ITestOutputHelper output)
{
    private const int Records = 80, RecordSize = 50_000; // ~4 MB: four 1 MiB segments on every bookie (ensemble 3 of 3)

    private static readonly string[] BookieGcArgs = ["--gc-interval-seconds", "0.3", "--flush-interval-seconds", "0.3", "--entry-log-mb", "1"];

    private static async Task<(ProcessCluster Cluster, DistributedLogClient Client)> StartAsync(params string[] proxyArgs)
    {
        var cluster = await ProcessCluster.StartAsync(3, null, null, _ => BookieGcArgs);
        try
        {
            await cluster.StartProxiesAsync(1, ["--admin-port", "-1", "--max-segment-bytes", (1 << 20).ToString(CultureInfo.InvariantCulture), .. proxyArgs]);
            var client = DistributedLogClient.Create(new DistributedLogClientOptions { Endpoints = [cluster.Proxies[0].Endpoint], RetryBudget = TimeSpan.FromSeconds(30) });
            return (cluster, client);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static byte[] Payload(int i)
    {
        var bytes = new byte[RecordSize];
        new Random(i).NextBytes(bytes);
        BitConverter.TryWriteBytes(bytes, i);
        return bytes;
    }

    private static async Task<List<Dlsn>> WriteAsync(DistributedLogClient client, string log)
    {
        await client.CreateLogAsync(log);
        var dlsns = new List<Dlsn>();
        for (int i = 0; i < Records; i++)
        {
            dlsns.Add((await client.WriteAsync(log, Payload(i))).Dlsn);
        }

        return dlsns;
    }

    private static long EntryLogBytes(BookieProcess bookie) =>
        Directory.EnumerateFiles(Path.Combine(bookie.DataDirectory, "ledgers"), "*.log", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting until {what()}.");
            }

            await Task.Delay(100);
        }
    }

    private async Task<long[]> FlushedBytesAsync(ProcessCluster cluster)
    {
        await WaitAsync(() => Task.FromResult(cluster.Bookies.All(b => EntryLogBytes(b) >= (long)Records * RecordSize)), TimeSpan.FromSeconds(30),
            () => "every bookie flushed the log to its entry logs");
        long[] bytes = [.. cluster.Bookies.Select(EntryLogBytes)];
        output.WriteLine($"entry logs before: {string.Join(", ", bytes)} bytes");
        return bytes;
    }

    private async Task WaitForSpaceBackAsync(ProcessCluster cluster, long[] before, long atLeast)
    {
        for (int i = 0; i < cluster.Bookies.Count; i++)
        {
            var bookie = cluster.Bookies[i];
            long target = before[i] - atLeast;
            await WaitAsync(() => Task.FromResult(EntryLogBytes(bookie) <= target), TimeSpan.FromSeconds(30),
                () => $"bookie {bookie.BookieId} frees {atLeast} bytes (had {before[i]}, now {EntryLogBytes(bookie)})");
        }

        output.WriteLine($"entry logs after: {string.Join(", ", cluster.Bookies.Select(EntryLogBytes))} bytes");
    }

    /// <summary>Reads the whole log; returns the indexes of the payloads read, checking each payload.</summary>
    private static async Task<List<(int Index, Dlsn Dlsn)>> ReadAllAsync(DistributedLogClient client, string log)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var read = new List<(int, Dlsn)>();
        await foreach (var record in client.ReadAsync(log, cancellationToken: timeout.Token))
        {
            int index = BitConverter.ToInt32(record.Payload.Span);
            Assert.Equal(Payload(index), record.Payload.ToArray());
            read.Add((index, record.Dlsn));
        }

        return read;
    }

    [Fact]
    public async Task Truncation_gives_the_bookies_their_disk_space_back()
    {
        var (cluster, client) = await StartAsync();
        await using var _ = cluster;
        await using var __ = client;
        var dlsns = await WriteAsync(client, "truncated");
        long[] before = await FlushedBytesAsync(cluster);

        // Truncate before the last record: every completed segment goes (the in-progress one stays).
        Assert.True(await client.TruncateAsync("truncated", dlsns[^1]));
        var segments = (await client.DescribeLogAsync("truncated")).Segments;
        int truncated = segments.Count(s => s.Truncation == "Truncated");
        output.WriteLine($"{segments.Count} segments, {truncated} truncated");
        Assert.True(truncated >= 3, $"expected at least three truncated 1 MiB segments, got {truncated}");

        // Entry logs that also hold the kept segment stay: at least all but one truncated segment's worth comes back.
        await WaitForSpaceBackAsync(cluster, before, (truncated - 1L) << 20);
        var read = await ReadAllAsync(client, "truncated");
        Assert.Equal((Records - 1, dlsns[^1]), read[^1]);
        Assert.All(read, r => Assert.Equal(dlsns[r.Index], r.Dlsn));
    }

    [Fact]
    public async Task Retention_runs_by_itself_keeps_the_last_completed_segment_and_the_space_comes_back()
    {
        // Retention of 3.6 s (a fraction of an hour), checked every half second.
        var (cluster, client) = await StartAsync("--retention-hours", "0.001", "--retention-check-seconds", "0.5");
        await using var _ = cluster;
        await using var __ = client;
        var dlsns = await WriteAsync(client, "retained");
        long[] before = await FlushedBytesAsync(cluster);
        var initial = (await client.DescribeLogAsync("retained")).Segments;
        int completed = initial.Count(s => !s.InProgress);
        Assert.True(completed >= 3, $"expected at least three completed segments, got {completed}");

        // Every completed segment but the last one goes, without any request.
        await WaitAsync(async () => (await client.DescribeLogAsync("retained")).Segments.Count(s => s.Truncation == "Truncated") == completed - 1,
            TimeSpan.FromSeconds(30), () => $"retention truncates {completed - 1} segments");
        await WaitForSpaceBackAsync(cluster, before, (completed - 2L) << 20);

        // Several more rounds, well past the retention age: the last completed segment and the in-progress one stay.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var segments = (await client.DescribeLogAsync("retained")).Segments;
        var lastCompleted = segments.Last(s => !s.InProgress);
        Assert.Equal("Active", lastCompleted.Truncation);
        Assert.Equal(completed - 1, segments.Count(s => s.Truncation == "Truncated"));

        var read = await ReadAllAsync(client, "retained");
        Assert.Equal(lastCompleted.Lssn, read[0].Dlsn.LogSegmentSequenceNo);
        Assert.Equal(Records - 1, read[^1].Index);
        Assert.Equal(Enumerable.Range(read[0].Index, read.Count), read.Select(r => r.Index));
        Assert.All(read, r => Assert.Equal(dlsns[r.Index], r.Dlsn));
    }
}
