using System.Text;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Replication;
using DistributedLog.Testing;

namespace DistributedLog.Ledgers.Tests.Replication;

/// <summary>
/// The auditor and a replication worker running as a bookie runs them, over in-process bookies: a bookie gone longer
/// than the delay has its ledgers re-replicated; one back in time, or an etcd stall that expires every registration,
/// marks nothing; the periodic check finds copies that miss entries on a live bookie.
/// </summary>
public sealed class AutoRecoveryTests(EtcdServer etcd) : IClassFixture<EtcdServer>
{
    private static AutoRecoveryOptions Options(TimeSpan delay) => new()
    {
        Identity = "test-autorecovery",
        LostBookieDelay = delay,
        AuditorTick = TimeSpan.FromMilliseconds(100),
        WorkerPollInterval = TimeSpan.FromMilliseconds(100),
        OpenLedgerGracePeriod = TimeSpan.Zero,
        LeaseTtl = TimeSpan.FromSeconds(10),
        CheckInterval = TimeSpan.Zero,
    };

    private static async Task<List<long>> WriteLedgersAsync(InProcessCluster cluster, int ledgers, int entries)
    {
        var ids = new List<long>();
        for (int l = 0; l < ledgers; l++)
        {
            await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
            for (int e = 0; e < entries; e++)
            {
                await writer.AddEntryAsync(Encoding.UTF8.GetBytes($"{writer.LedgerId}/{e}"));
            }

            await writer.CloseAsync();
            ids.Add(writer.LedgerId);
        }

        return ids;
    }

    private static async Task<bool> AnyLedgerOnAsync(InProcessCluster cluster, IEnumerable<long> ledgers, string bookie)
    {
        foreach (long id in ledgers)
        {
            if ((await cluster.LedgerStore.ReadAsync(id, default))!.Value.Ensembles.Any(s => s.Bookies.Contains(bookie)))
            {
                return true;
            }
        }

        return false;
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within {timeout}: {what}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_bookie_gone_longer_than_the_delay_has_every_ledger_re_replicated()
    {
        await using var cluster = await InProcessCluster.StartAsync(5);
        var ledgers = await WriteLedgersAsync(cluster, 6, 30);
        await using var recovery = await AutoRecovery.StartAsync(cluster.Store, Options(TimeSpan.FromSeconds(1)));
        string victim = (await cluster.LedgerStore.ReadAsync(ledgers[0], default))!.Value.CurrentEnsemble[0];
        await cluster.StopBookieAsync(cluster.IndexOf(victim));

        await EventuallyAsync(async () => !await AnyLedgerOnAsync(cluster, ledgers, victim), TimeSpan.FromSeconds(60), $"no ledger on {victim}");
        var state = new UnderReplicationStore(cluster.Store);
        await EventuallyAsync(async () => (await state.ListAsync(default)).Count == 0, TimeSpan.FromSeconds(30), "no under-replicated ledger left");
        Assert.True(recovery.Auditor!.IsAuditor);
        foreach (long id in ledgers)
        {
            var reader = await cluster.Client.OpenLedgerNoRecoveryAsync(id);
            Assert.Equal(30, (await reader.ReadAsync(0, 29)).Count);
        }
    }

    [Fact]
    public async Task A_bookie_back_within_the_delay_marks_nothing()
    {
        await using var cluster = await InProcessCluster.StartAsync(4);
        var ledgers = await WriteLedgersAsync(cluster, 3, 5);
        await using var recovery = await AutoRecovery.StartAsync(cluster.Store, Options(TimeSpan.FromSeconds(4)));
        string bookie = (await cluster.LedgerStore.ReadAsync(ledgers[0], default))!.Value.CurrentEnsemble[0];
        int index = cluster.IndexOf(bookie);
        await cluster.StopBookieAsync(index);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await cluster.StartBookieAsync(index);
        await Task.Delay(TimeSpan.FromSeconds(5));

        Assert.Empty(await new UnderReplicationStore(cluster.Store).ListAsync(default));
        Assert.True(await AnyLedgerOnAsync(cluster, ledgers, bookie));
    }

    [Fact]
    public async Task An_etcd_stall_that_expires_every_registration_marks_nothing()
    {
        await using var cluster = await InProcessCluster.StartAsync(4, metadataUri: etcd.NewStoreUri());
        var ledgers = await WriteLedgersAsync(cluster, 3, 5);
        await using var recovery = await AutoRecovery.StartAsync(cluster.Store, Options(TimeSpan.FromSeconds(3)));
        await EventuallyAsync(() => Task.FromResult(recovery.Auditor!.IsAuditor), TimeSpan.FromSeconds(10), "an auditor elected");

        // The bookies' registrations (2 s leases) expire during the stall; the auditor's own lease (10 s) outlives it.
        var leasesBefore = (await cluster.Store.ListAsync("bookies/available/")).Select(r => r.LeaseId).ToHashSet();
        etcd.Pause();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        finally
        {
            etcd.Resume();
        }

        await EventuallyAsync(async () => (await cluster.Store.ListAsync("bookies/available/")).Count == 4, TimeSpan.FromSeconds(30), "every bookie registered again");
        var leasesAfter = (await cluster.Store.ListAsync("bookies/available/")).Select(r => r.LeaseId).ToHashSet();
        Assert.Empty(leasesBefore.Intersect(leasesAfter)); // every registration expired and was made again
        await Task.Delay(TimeSpan.FromSeconds(4)); // longer than the delay, counted from the bookies' return
        Assert.Empty(await new UnderReplicationStore(cluster.Store).ListAsync(default));
    }

    [Fact]
    public async Task The_check_finds_a_live_bookie_missing_entries_and_the_worker_replaces_its_copy()
    {
        await using var cluster = await InProcessCluster.StartAsync(4);
        var ledgers = await WriteLedgersAsync(cluster, 1, 20);
        var metadata = (await cluster.LedgerStore.ReadAsync(ledgers[0], default))!.Value;
        string damaged = metadata.CurrentEnsemble[1];

        // The bookie lost the ledger (a replaced disk whose cookie was restored): it is live and registered, the copy is gone.
        Assert.Equal(DistributedLog.Protocol.Errors.StatusCode.Success, await cluster.Client.Bookies.DeleteLedgerAsync(damaged, ledgers[0]));

        var state = new UnderReplicationStore(cluster.Store);
        var audit = new ClusterAudit(cluster.Client, state, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var report = await audit.RunAsync(null, checkFragments: true, verifyEntries: false, default);
        Assert.Equal(1, report.Ledgers);
        Assert.Equal(1, report.BadFragments);
        Assert.Equal(1, report.UnderReplicated);
        Assert.Empty(report.LostBookies);
        var mark = await state.GetAsync(ledgers[0], default);
        Assert.Equal(ReplicaLoss.MissingEntries, mark!.Ledger.Bookies[damaged]);

        await using var worker = new ReplicationWorker(cluster.Client, state, Options(TimeSpan.Zero), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Replicated, await worker.ProcessAsync(ledgers[0], default));
        var repaired = (await cluster.LedgerStore.ReadAsync(ledgers[0], default))!.Value;
        Assert.DoesNotContain(damaged, repaired.CurrentEnsemble);
        var again = await audit.RunAsync(null, checkFragments: true, verifyEntries: true, default);
        Assert.Equal(0, again.UnderReplicated);
        Assert.Equal(0, again.BadFragments);
    }
}
