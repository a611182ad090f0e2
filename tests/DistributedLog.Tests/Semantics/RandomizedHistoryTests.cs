using System.Text;
using DistributedLog.Ledgers;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;
using Xunit.Abstractions;

namespace DistributedLog.Tests.Semantics;

/// <summary>
/// Randomized histories: writers take over from each other (fencing), are aborted mid-flight, and bookies stop and come
/// back, while records are written. Afterwards, and at checkpoints along the way, a reader's view must contain every
/// acknowledged record exactly once, in order, and anything a reader once saw must never vanish later.
/// </summary>
public sealed class RandomizedHistoryTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(11)]
    [InlineData(22)]
    [InlineData(33)]
    [InlineData(44)]
    [InlineData(55)]
    [InlineData(66)]
    [InlineData(77)]
    [InlineData(88)]
    public async Task Every_acknowledged_record_exactly_once_in_order(int seed)
    {
        var random = new Random(seed);
        await using var cluster = await InProcessCluster.StartAsync(4, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(2) });
        var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client, "history");
        await ns.CreateLogAsync("h");
        var log = ns.OpenLog("h");
        var options = new LogWriterOptions { DisableOwnershipLock = true, MaxSegmentBytes = 2_000 + random.Next(4_000) };
        var acknowledged = new SortedSet<long>();
        List<long>? previousView = null;
        long nextTxId = 0;
        int stopped = -1;
        var writer = await log.OpenWriterAsync(options);

        for (int step = 0; step < 25; step++)
        {
            int action = random.Next(10);
            if (action < 6)
            {
                // A burst of writes, some left in flight when the next action happens.
                var pending = new List<(long TxId, Task<Dlsn> Write)>();
                int count = random.Next(1, 60);
                for (int i = 0; i < count; i++)
                {
                    long txId = nextTxId++;
                    pending.Add((txId, writer.WriteAsync(new LogRecord(txId, Encoding.UTF8.GetBytes($"tx{txId}"))).AsTask()));
                }

                bool failed = false;
                foreach (var (txId, write) in pending)
                {
                    try
                    {
                        await write;
                        acknowledged.Add(txId);
                    }
                    catch (DlException)
                    {
                        // Not acknowledged (fenced, no bookie to replace a failed one, …): may or may not be in the log.
                        failed = true;
                    }
                }

                if (failed)
                {
                    // A failed writer stays failed: the application opens a new one, which recovers the log.
                    await writer.AbortAsync();
                    writer = await log.OpenWriterAsync(options);
                    nextTxId += 10;
                }
            }
            else if (action < 8)
            {
                // Takeover: a new writer fences the old one; the old one may still have writes in flight.
                var inFlight = writer.WriteAsync(new LogRecord(nextTxId++, "in flight"u8.ToArray())).AsTask();
                writer = await log.OpenWriterAsync(options);
                await Swallow(inFlight, acknowledged, nextTxId - 1);
                nextTxId += 10; // the new segment must not start below the old writer's txids
            }
            else if (action < 9 && stopped < 0)
            {
                stopped = random.Next(cluster.Count);
                output.WriteLine($"step {step}: stopping bookie {stopped}");
                await cluster.StopBookieAsync(stopped);
            }
            else if (stopped >= 0)
            {
                output.WriteLine($"step {step}: starting bookie {stopped}");
                await cluster.StartBookieAsync(stopped);
                stopped = -1;
            }
            else
            {
                // The writer dies without completing its segment; the next one recovers it.
                await writer.AbortAsync();
                writer = await log.OpenWriterAsync(options);
                nextTxId += 10;
            }

            if (step % 8 == 7)
            {
                previousView = await CheckAsync(log, acknowledged, previousView, writer);
            }
        }

        if (stopped >= 0)
        {
            await cluster.StartBookieAsync(stopped);
        }

        try
        {
            await writer.CloseAsync();
        }
        catch (DlException)
        {
            // The last writer failed: a new one recovers its segment.
            await using var last = await log.OpenWriterAsync(options);
        }

        var finalView = await CheckAsync(log, acknowledged, previousView, writer: null);
        output.WriteLine($"seed {seed}: {acknowledged.Count} acknowledged, {finalView.Count} in the log, {(await log.GetSegmentsAsync()).Count} segments");
        Assert.True(acknowledged.Count > 50, "the history wrote too little to mean anything");
    }

    private static async Task Swallow(Task<Dlsn> write, SortedSet<long> acknowledged, long txId)
    {
        try
        {
            await write;
            acknowledged.Add(txId);
        }
        catch (DlException)
        {
        }
    }

    /// <summary>Reads the whole log and checks it against what was acknowledged and what was seen before.</summary>
    private static async Task<List<long>> CheckAsync(LogManager log, SortedSet<long> acknowledged, List<long>? previousView, AsyncLogWriter? writer)
    {
        if (writer is not null)
        {
            try
            {
                await writer.FlushAsync();
            }
            catch (DlException)
            {
            }
        }

        // Read until the last acknowledged record shows up (the in-progress segment becomes visible up to it once the
        // writer's control record commits it).
        long last = acknowledged.Count == 0 ? -1 : acknowledged.Max;
        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
        var view = new List<long>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (last >= 0 && (view.Count == 0 || view[^1] < last))
        {
            try
            {
                view.Add((await reader.ReadNextAsync(timeout.Token)).TxId);
            }
            catch (OperationCanceledException)
            {
                var segments = await log.GetSegmentsAsync();
                Assert.Fail($"the reader stopped at txid {(view.Count == 0 ? -1 : view[^1])} ({view.Count} records) but {last} was acknowledged; segments: " +
                    string.Join(" | ", segments.Select(s => $"{s.Lssn}:{s.State}:ledger {s.LedgerId}:first {s.FirstTxId}:last {s.LastTxId}:entry {s.LastEntryId}:count {s.RecordCount}")));
            }
        }

        Assert.Equal(view.Count, view.Distinct().Count());
        Assert.Equal(view.Order(), view);
        var missing = acknowledged.Except(view).ToList();
        Assert.True(missing.Count == 0, $"acknowledged records missing from the log: {string.Join(", ", missing.Take(10))}");
        if (previousView is not null)
        {
            var vanished = previousView.Except(view).ToList();
            Assert.True(vanished.Count == 0, $"records seen before vanished: {string.Join(", ", vanished.Take(10))}");
        }

        return view;
    }
}
