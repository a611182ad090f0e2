using DistributedLog.Bookie.Registration;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>
/// The scan-and-compare collector's safety delay on a fake clock, over in-process bookies and the embedded store: an
/// orphan goes exactly when it has been seen without metadata for the delay; one that appears later waits its own
/// full delay; a ledger with metadata is never touched. The first test lists the metadata one key per page.
/// </summary>
public sealed class OrphanLedgerCollectorTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromHours(1);

    private static async Task<long> WriteLedgerAsync(InProcessCluster cluster)
    {
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 3; i++)
        {
            await writer.AddEntryAsync(new byte[] { 1, 2, 3 });
        }

        await writer.CloseAsync();
        return writer.LedgerId;
    }

    [Fact]
    public async Task An_orphan_is_deleted_only_after_it_was_seen_without_metadata_for_the_delay()
    {
        await using var cluster = await InProcessCluster.StartAsync(3);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var bookie = cluster.Host(0)!.Bookie;
        await using var collector = new OrphanLedgerCollector(bookie, cluster.Store,
            new OrphanLedgerCollectorOptions { ScanInterval = TimeSpan.FromMinutes(10), OrphanDelay = Delay, TimeProvider = time, ListPageSize = 1 },
            NullLogger<OrphanLedgerCollector>.Instance);
        async Task<StatusCode> StatusAsync(long ledger) => (await cluster.Client.Bookies.ReadEntryAsync(bookie.Id, ledger, 0)).Status;

        long kept = await WriteLedgerAsync(cluster);
        long orphan = await WriteLedgerAsync(cluster);
        long keptToo = await WriteLedgerAsync(cluster); // on a later page than the first one
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(orphan)));

        var first = await collector.RunOnceAsync();
        Assert.Equal(new OrphanScanResult(Completed: true, LocalLedgers: 3, Orphans: 1, Deleted: 0), first);
        time.Advance(Delay - TimeSpan.FromSeconds(1));
        Assert.Equal(0, (await collector.RunOnceAsync()).Deleted);
        Assert.Equal(StatusCode.Success, await StatusAsync(orphan));

        // A second orphan appears just before the first one's delay is up.
        long late = await WriteLedgerAsync(cluster);
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(late)));
        time.Advance(TimeSpan.FromSeconds(1));
        var due = await collector.RunOnceAsync();
        Assert.Equal((2, 1), (due.Orphans, due.Deleted));
        Assert.Equal(StatusCode.NoSuchLedger, await StatusAsync(orphan));
        Assert.Equal(StatusCode.Success, await StatusAsync(late));
        Assert.Equal(1, collector.PendingOrphans);

        time.Advance(Delay);
        Assert.Equal(1, (await collector.RunOnceAsync()).Deleted);
        Assert.Equal(StatusCode.NoSuchLedger, await StatusAsync(late));

        // Days later the ledger with metadata is still whole.
        time.Advance(TimeSpan.FromDays(3));
        Assert.Equal(new OrphanScanResult(true, 2, 0, 0), await collector.RunOnceAsync());
        Assert.Equal(StatusCode.Success, await StatusAsync(kept));
        Assert.Equal(StatusCode.Success, await StatusAsync(keptToo));
        var reader = await cluster.Client.OpenLedgerAsync(kept);
        Assert.Equal(3, (await reader.ReadAsync(0, 2)).Count);
    }

    [Fact]
    public async Task An_orphan_whose_metadata_comes_back_is_forgotten()
    {
        await using var cluster = await InProcessCluster.StartAsync(3);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var bookie = cluster.Host(0)!.Bookie;
        await using var collector = new OrphanLedgerCollector(bookie, cluster.Store,
            new OrphanLedgerCollectorOptions { OrphanDelay = Delay, TimeProvider = time }, NullLogger<OrphanLedgerCollector>.Instance);
        long ledger = await WriteLedgerAsync(cluster);
        var metadata = (await cluster.Store.GetAsync(LedgerKeys.Ledger(ledger)))!;
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(ledger)));
        Assert.Equal(1, (await collector.RunOnceAsync()).Orphans);

        // The metadata is back (a restore): the ledger is no orphan, and a later absence starts the delay again.
        await cluster.Store.PutAsync(LedgerKeys.Ledger(ledger), metadata.Value);
        time.Advance(Delay);
        Assert.Equal(0, (await collector.RunOnceAsync()).Orphans);
        Assert.Equal(0, collector.PendingOrphans);
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(ledger)));
        time.Advance(Delay);
        var again = await collector.RunOnceAsync();
        Assert.Equal((1, 0), (again.Orphans, again.Deleted));
        Assert.Equal(StatusCode.Success, (await cluster.Client.Bookies.ReadEntryAsync(bookie.Id, ledger, 0)).Status);
    }
}
