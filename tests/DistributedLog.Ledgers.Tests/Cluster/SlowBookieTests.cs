using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>
/// A bookie that stops answering (SIGSTOP: a long GC pause, a stuck disk) while four real bookie processes serve a
/// ledger with E = Qw = 3, Qa = 2; and the bookie quarantine that decides when such a bookie is chosen again.
/// </summary>
public sealed class SlowBookieTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static readonly TimeSpan AddTimeout = TimeSpan.FromSeconds(2);

    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"{ledgerId}/{entryId}/{new string('s', (int)(entryId % 61))}");

    [Fact]
    public async Task A_frozen_bookie_does_not_stall_writes_is_replaced_within_the_add_timeout_and_is_chosen_again_after_its_quarantine()
    {
        var options = new LedgerClientOptions { BookieTimeout = AddTimeout, BookieQuarantineTime = TimeSpan.FromSeconds(3) };
        await using var cluster = await ProcessCluster.StartAsync(4, etcd, options);
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        await using var load = new WriteLoad(writer);
        await load.WaitForAcksAsync(200);

        string victim = writer.Metadata.CurrentEnsemble[0];
        var frozen = Stopwatch.StartNew();
        long beforeFreeze = load.Acked;
        await cluster.Bookie(victim).PauseAsync();
        await WaitUntilAsync(() => writer.EnsembleChanges >= 1, AddTimeout * 3, "the frozen bookie was not replaced");
        long atChange = load.Acked;
        output.WriteLine($"froze {victim}; replaced after {frozen.Elapsed.TotalSeconds:F1} s; {atChange - beforeFreeze} acks meanwhile");
        Assert.DoesNotContain(victim, writer.Metadata.CurrentEnsemble);
        Assert.Contains(victim, cluster.Client.QuarantinedBookies);

        // Qa = 2 of the 3 replicas were still answering: acknowledgements went on before the replacement, not only after it.
        Assert.True(atChange - beforeFreeze > 0, "no entry was acknowledged while one bookie of three was frozen (writes stalled)");
        while (frozen.Elapsed < TimeSpan.FromSeconds(6))
        {
            await Task.Delay(200);
        }

        long atResume = load.Acked;
        Assert.True(atResume > atChange, "no entry was acknowledged after the ensemble change while the bookie stayed frozen");
        await cluster.Bookie(victim).ResumeAsync();

        // Once its quarantine is over, it is an ordinary candidate: when another bookie of the ensemble fails, it is the
        // only bookie outside the ensemble, and it is chosen.
        await WaitUntilAsync(() => !cluster.Client.QuarantinedBookies.Contains(victim), TimeSpan.FromSeconds(10), "the quarantine did not end");
        string second = writer.Metadata.CurrentEnsemble.First(b => b != victim);
        await cluster.Bookie(second).PauseAsync();
        try
        {
            await WaitUntilAsync(() => writer.EnsembleChanges >= 2, AddTimeout * 3, "the second frozen bookie was not replaced");
            Assert.Contains(victim, writer.Metadata.CurrentEnsemble);
            await load.WaitForAcksAsync(load.Acked + 100);
        }
        finally
        {
            await cluster.Bookie(second).ResumeAsync();
        }

        long written = await load.StopAsync();
        await AssertEverythingReadableAsync(cluster, writer, written);
    }

    [Fact]
    public async Task A_bookie_that_came_back_is_used_again_when_another_fails_even_while_it_is_quarantined()
    {
        // The defect: with 4 bookies, one frozen and replaced, then back; then another fails: the writer failed with
        // NotEnoughBookies although 3 healthy bookies were registered (a bookie that failed was never chosen again).
        var options = new LedgerClientOptions { BookieTimeout = AddTimeout, BookieQuarantineTime = TimeSpan.FromMinutes(10) };
        await using var cluster = await ProcessCluster.StartAsync(4, etcd, options);
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        await using var load = new WriteLoad(writer);
        await load.WaitForAcksAsync(100);

        string victim = writer.Metadata.CurrentEnsemble[1];
        await cluster.Bookie(victim).PauseAsync();
        await WaitUntilAsync(() => writer.EnsembleChanges >= 1, AddTimeout * 3, "the frozen bookie was not replaced");
        await cluster.Bookie(victim).ResumeAsync();
        await load.WaitForAcksAsync(load.Acked + 100);

        // While quarantined, new ensembles avoid it: the three others are enough.
        Assert.Contains(victim, cluster.Client.QuarantinedBookies);
        for (int i = 0; i < 5; i++)
        {
            await using var other = await cluster.Client.CreateLedgerAsync(3, 3, 2);
            Assert.DoesNotContain(victim, other.Metadata.CurrentEnsemble);
        }

        string second = writer.Metadata.CurrentEnsemble.First(b => b != victim);
        await cluster.Bookie(second).PauseAsync();
        try
        {
            await WaitUntilAsync(() => writer.EnsembleChanges >= 2 || load.Failure is not null, AddTimeout * 3, "the second frozen bookie was not replaced");
            Assert.Null(load.Failure);
            Assert.Contains(victim, writer.Metadata.CurrentEnsemble);
            await load.WaitForAcksAsync(load.Acked + 100);
        }
        finally
        {
            await cluster.Bookie(second).ResumeAsync();
        }

        long written = await load.StopAsync();
        await AssertEverythingReadableAsync(cluster, writer, written);
    }

    private async Task AssertEverythingReadableAsync(ProcessCluster cluster, LedgerHandle writer, long written)
    {
        await writer.CloseAsync();
        var metadata = writer.Metadata;
        output.WriteLine($"{written} entries; ensembles " + string.Join(" | ", metadata.Ensembles.Select(s => $"{s.FirstEntryId}: {string.Join(",", s.Bookies)}")));
        Assert.Equal(written - 1, metadata.LastEntryId);
        var (client, resources) = await cluster.NewClientAsync();
        await using (resources)
        {
            var reader = await client.OpenLedgerAsync(writer.LedgerId);
            for (long first = 0; first < written; first += 500)
            {
                var entries = await reader.ReadAsync(first, Math.Min(first + 499, written - 1));
                foreach (var entry in entries)
                {
                    Assert.Equal(Payload(writer.LedgerId, entry.EntryId), entry.Payload.ToArray());
                }
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < timeout, $"{failure} within {timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    /// <summary>Adds entries continuously (up to 32 in flight, about a thousand a second) and counts acknowledgements.</summary>
    private sealed class WriteLoad : IAsyncDisposable
    {
        private readonly LedgerHandle _writer;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<long> _loop;
        private long _acked;

        public WriteLoad(LedgerHandle writer)
        {
            _writer = writer;
            _loop = Task.Run(RunAsync);
        }

        public long Acked => Interlocked.Read(ref _acked);

        public Exception? Failure { get; private set; }

        public async Task WaitForAcksAsync(long count)
        {
            var watch = Stopwatch.StartNew();
            while (Acked < count)
            {
                if (Failure is not null || _loop.IsCompleted)
                {
                    await _loop;
                }

                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"only {Acked} of {count} entries acknowledged within 30 s");
                await Task.Delay(20);
            }
        }

        /// <summary>Stops adding, waits for the adds in flight, and returns how many entries were written (all acknowledged).</summary>
        public async Task<long> StopAsync()
        {
            await _stop.CancelAsync();
            return await _loop;
        }

        private async Task<long> RunAsync()
        {
            var window = new Queue<(long Entry, Task<long> Add)>();
            long next = 0;
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    window.Enqueue((next, _writer.AddEntryAsync(Payload(_writer.LedgerId, next)).AsTask()));
                    next++;
                    if (window.Count >= 32)
                    {
                        await CompleteOldestAsync(window);
                    }

                    if (next % 10 == 0)
                    {
                        await Task.Delay(10);
                    }
                }

                while (window.Count > 0)
                {
                    await CompleteOldestAsync(window);
                }

                return next;
            }
            catch (Exception e)
            {
                Failure = e;
                throw;
            }
        }

        private async Task CompleteOldestAsync(Queue<(long Entry, Task<long> Add)> window)
        {
            var (entry, add) = window.Dequeue();
            long id = await add;
            Assert.Equal(entry, id);
            Interlocked.Increment(ref _acked);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (Exception)
            {
                // already reported through Failure / the test's assertions
            }

            _stop.Dispose();
        }
    }
}
