using System.Text;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>Replication against bookie processes registered in a real etcd; bookies and etcd are killed with SIGKILL.</summary>
public sealed class ReplicationClusterTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private readonly EtcdServer _etcd = etcd;

    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"{ledgerId}/{entryId}/{new string('p', (int)(entryId % 97))}");

    [Fact]
    public async Task Ten_thousand_entries_survive_a_bookie_sigkill_midway()
    {
        await using var cluster = await ProcessCluster.StartAsync(4, _etcd, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(3) });
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        string victim = writer.Metadata.CurrentEnsemble[0];
        const int total = 10_000, inFlight = 64;
        var acked = new long[total];
        var window = new Queue<(long Entry, Task<long> Add)>();
        for (long e = 0; e < total; e++)
        {
            if (e == total / 2)
            {
                await cluster.Bookie(victim).KillAsync();
                output.WriteLine($"killed {victim} at entry {e}");
            }

            window.Enqueue((e, writer.AddEntryAsync(Payload(writer.LedgerId, e)).AsTask()));
            if (window.Count >= inFlight)
            {
                var (entry, add) = window.Dequeue();
                acked[entry] = await add;
            }
        }

        while (window.Count > 0)
        {
            var (entry, add) = window.Dequeue();
            acked[entry] = await add;
        }

        Assert.Equal(Enumerable.Range(0, total).Select(i => (long)i), acked);
        await writer.CloseAsync();
        var metadata = (await cluster.LedgerStore.ReadAsync(writer.LedgerId, default))!.Value;
        output.WriteLine(string.Join(" | ", metadata.Ensembles.Select(s => $"{s.FirstEntryId}: {string.Join(",", s.Bookies)}")));
        Assert.True(metadata.Ensembles.Count >= 2, "the metadata must show the ensemble change");
        Assert.DoesNotContain(victim, metadata.CurrentEnsemble);
        Assert.Equal(total - 1, metadata.LastEntryId);

        var reader = await cluster.Client.OpenLedgerAsync(writer.LedgerId);
        for (long first = 0; first < total; first += 500)
        {
            var entries = await reader.ReadAsync(first, first + 499);
            foreach (var entry in entries)
            {
                Assert.Equal(Payload(writer.LedgerId, entry.EntryId), entry.Payload.ToArray());
            }
        }
    }

    [Fact]
    public async Task Second_writer_recovers_and_fences_the_first()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, _etcd);
        var first = await cluster.Client.CreateLedgerAsync();
        long lastAcked = -1;
        var inFlight = new List<Task<long>>();
        for (long e = 0; e < 500; e++)
        {
            inFlight.Add(first.AddEntryAsync(Payload(first.LedgerId, e)).AsTask());
        }

        lastAcked = await inFlight[250];
        var (second, resources) = await cluster.NewClientAsync();
        await using (resources)
        {
            var recovered = await second.OpenLedgerAsync(first.LedgerId);
            foreach (var add in inFlight)
            {
                try
                {
                    lastAcked = Math.Max(lastAcked, await add);
                }
                catch (DlException e) when (e.Code == StatusCode.LedgerFenced)
                {
                }
            }

            Assert.True(recovered.Metadata.LastEntryId >= lastAcked, $"recovered {recovered.Metadata.LastEntryId} < acknowledged {lastAcked}");
            var fenced = await Assert.ThrowsAnyAsync<DlException>(async () => await first.AddEntryAsync(Payload(first.LedgerId, 999)));
            Assert.Equal(StatusCode.LedgerFenced, fenced.Code);
            var entries = await recovered.ReadAsync(0, recovered.Metadata.LastEntryId);
            Assert.All(entries, e => Assert.Equal(Payload(first.LedgerId, e.EntryId), e.Payload.ToArray()));
        }
    }

    [Fact]
    public async Task Tailing_reader_never_sees_an_unacknowledged_entry()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, _etcd);
        await using var writer = await cluster.Client.CreateLedgerAsync();
        var (client, resources) = await cluster.NewClientAsync();
        await using (resources)
        {
            var reader = await client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
            long next = 0;
            var tail = Task.Run(async () =>
            {
                while (next < 499)
                {
                    var entry = await reader.WaitForEntryAsync(next, TimeSpan.FromSeconds(5));
                    if (entry is null)
                    {
                        continue;
                    }

                    Assert.True(entry.EntryId <= writer.LastAddConfirmed, $"reader saw {entry.EntryId}, writer's LAC {writer.LastAddConfirmed}");
                    Assert.Equal(Payload(writer.LedgerId, next), entry.Payload.ToArray());
                    next++;
                }
            });
            for (long e = 0; e < 500; e++)
            {
                await writer.AddEntryAsync(Payload(writer.LedgerId, e));
            }

            await tail.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(499, next);
        }
    }

    [Fact]
    public async Task A_bookie_restarted_on_a_wiped_disk_is_refused_and_a_plain_restart_is_not()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, _etcd);
        var bookie = cluster.Bookies[1];
        await bookie.KillAsync();
        await bookie.StartAsync();
        await cluster.Registry.WaitForBookiesAsync(3, TimeSpan.FromSeconds(30));

        await bookie.WipeAsync();
        int exitCode = await bookie.RunToExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("no cookie", bookie.Output, StringComparison.Ordinal);
        Assert.Contains("wiped", bookie.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Etcd_outage_gives_clear_errors_and_operations_resume()
    {
        // Its own etcd: this test kills it.
        var ownEtcd = new EtcdServer();
        await ownEtcd.StartAsync();
        try
        {
            await OutageAsync(ownEtcd);
        }
        finally
        {
            await ownEtcd.DisposeAsync();
        }
    }

    private async Task OutageAsync(EtcdServer etcd)
    {
        await using var cluster = await ProcessCluster.StartAsync(3, etcd);
        await using (var before = await cluster.Client.CreateLedgerAsync())
        {
            await before.AddEntryAsync(Payload(before.LedgerId, 0));
        }

        etcd.Kill();
        var error = await Assert.ThrowsAnyAsync<DlException>(() => cluster.Client.CreateLedgerAsync());
        output.WriteLine(error.Message);
        Assert.Equal(StatusCode.MetadataStoreError, error.Code);
        Assert.True(error.IsRetryable);
        Assert.Contains(etcd.Endpoint, error.Message, StringComparison.Ordinal);

        await etcd.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await using var after = await cluster.Client.CreateLedgerAsync();
                Assert.Equal(0, await after.AddEntryAsync(Payload(after.LedgerId, 0)));
                break;
            }
            catch (DlException e) when (e.IsRetryable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }
    }
}
