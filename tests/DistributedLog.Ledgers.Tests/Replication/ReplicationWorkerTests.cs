using System.Text;
using DistributedLog.Bookie.Wire;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Ledgers.Replication;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Ledgers.Tests.Replication;

/// <summary>
/// Re-replication over in-process bookies (real TCP, files, fsync) and the embedded metadata store: fragments of lost
/// bookies are copied to replacements, the metadata is changed by compare-and-set, and the data survives losing the
/// original replicas afterwards.
/// </summary>
public sealed class ReplicationWorkerTests
{
    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"{ledgerId}/{entryId}/{new string('r', (int)(entryId % 50))}");

    private static AutoRecoveryOptions Options(TimeSpan? grace = null) => new()
    {
        Identity = "test-worker",
        OpenLedgerGracePeriod = grace ?? TimeSpan.Zero,
        WorkerPollInterval = TimeSpan.FromMilliseconds(100),
        LeaseTtl = TimeSpan.FromSeconds(5),
    };

    private static async Task<LedgerHandle> WriteAsync(InProcessCluster cluster, int entries, int e = 3, int qw = 3, int qa = 2, bool close = true)
    {
        var writer = await cluster.Client.CreateLedgerAsync(e, qw, qa);
        var adds = Enumerable.Range(0, entries).Select(i => writer.AddEntryAsync(Payload(writer.LedgerId, i)).AsTask()).ToList();
        await Task.WhenAll(adds);
        if (close)
        {
            await writer.CloseAsync();
        }

        return writer;
    }

    private static async Task<LedgerMetadata> MetadataAsync(InProcessCluster cluster, long ledgerId) =>
        (await cluster.LedgerStore.ReadAsync(ledgerId, default))!.Value;

    /// <summary>Every entry is on every bookie of its write set, byte for byte.</summary>
    private static async Task AssertFullyReplicatedAsync(InProcessCluster cluster, LedgerMetadata metadata)
    {
        for (long entry = 0; entry <= metadata.LastEntryId; entry++)
        {
            var ensemble = metadata.EnsembleAt(entry);
            for (int k = 0; k < metadata.WriteQuorumSize; k++)
            {
                string bookie = ensemble[DistributionSchedule.BookieIndex(entry, k, ensemble.Count)];
                var read = await cluster.Client.Bookies.ReadEntryAsync(bookie, metadata.LedgerId, entry);
                Assert.True(read.Status == StatusCode.Success, $"entry {entry} of ledger {metadata.LedgerId} on {bookie}: {read.Status}");
                Assert.Equal(Payload(metadata.LedgerId, entry), PackagedEntry.Payload(read.Entry.Span).ToArray());
            }
        }
    }

    [Fact]
    public async Task A_lost_bookies_copies_move_and_survive_losing_the_other_original_replicas()
    {
        await using var cluster = await InProcessCluster.StartAsync(5);
        var writer = await WriteAsync(cluster, 300);
        var original = (await MetadataAsync(cluster, writer.LedgerId)).CurrentEnsemble.ToArray();
        await cluster.StopBookieAsync(cluster.IndexOf(original[0]));

        var state = new UnderReplicationStore(cluster.Store);
        Assert.True(await state.MarkAsync(writer.LedgerId, new Dictionary<string, ReplicaLoss> { [original[0]] = ReplicaLoss.Lost }, default));
        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Replicated, await worker.ProcessAsync(writer.LedgerId, default));

        var repaired = await MetadataAsync(cluster, writer.LedgerId);
        Assert.DoesNotContain(original[0], repaired.CurrentEnsemble);
        Assert.Equal(299, repaired.LastEntryId);
        Assert.True(repaired.IsClosed);
        Assert.Null(await state.GetAsync(writer.LedgerId, default));
        Assert.Equal(300, worker.EntriesCopied);
        await AssertFullyReplicatedAsync(cluster, repaired);

        // The two other original replicas go too: only the copy made by the worker is left, and it is enough.
        await cluster.StopBookieAsync(cluster.IndexOf(original[1]));
        await cluster.StopBookieAsync(cluster.IndexOf(original[2]));
        var reader = await cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        var entries = await reader.ReadAsync(0, 299);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => Payload(writer.LedgerId, i)), entries.Select(e => e.Payload.ToArray()));
    }

    [Fact]
    public async Task Striped_ledgers_move_only_the_lost_bookies_share_to_a_bookie_outside_the_ensemble()
    {
        await using var cluster = await InProcessCluster.StartAsync(6);
        var writer = await WriteAsync(cluster, 200, e: 5, qw: 3, qa: 2);
        var original = (await MetadataAsync(cluster, writer.LedgerId)).CurrentEnsemble.ToArray();
        string lost = original[2];
        await cluster.StopBookieAsync(cluster.IndexOf(lost));

        var state = new UnderReplicationStore(cluster.Store);
        await state.MarkAsync(writer.LedgerId, new Dictionary<string, ReplicaLoss> { [lost] = ReplicaLoss.Lost }, default);
        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Replicated, await worker.ProcessAsync(writer.LedgerId, default));

        var repaired = await MetadataAsync(cluster, writer.LedgerId);
        string replacement = repaired.CurrentEnsemble[2];
        Assert.DoesNotContain(replacement, original);
        Assert.Equal(original.Where((_, i) => i != 2), repaired.CurrentEnsemble.Where((_, i) => i != 2));
        Assert.Equal(200 * 3 / 5, worker.EntriesCopied); // position 2 stores 3 of every 5 entries
        await AssertFullyReplicatedAsync(cluster, repaired);
    }

    [Fact]
    public async Task Only_the_fragments_on_the_lost_bookie_move_after_an_ensemble_change()
    {
        await using var cluster = await InProcessCluster.StartAsync(5);
        var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 50; i++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, i));
        }

        // The writer replaces a bookie that stops (ensemble change): the first fragment stays on it.
        string first = writer.Metadata.CurrentEnsemble[1];
        await cluster.StopBookieAsync(cluster.IndexOf(first));
        for (int i = 50; i < 100; i++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, i));
        }

        await writer.CloseAsync();
        var before = await MetadataAsync(cluster, writer.LedgerId);
        Assert.Equal(2, before.Ensembles.Count);

        var state = new UnderReplicationStore(cluster.Store);
        await state.MarkAsync(writer.LedgerId, new Dictionary<string, ReplicaLoss> { [first] = ReplicaLoss.Lost }, default);
        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Replicated, await worker.ProcessAsync(writer.LedgerId, default));
        var after = await MetadataAsync(cluster, writer.LedgerId);
        Assert.DoesNotContain(after.Ensembles, s => s.Bookies.Contains(first));
        Assert.Equal(before.Ensembles[1].FirstEntryId, after.Ensembles[1].FirstEntryId);
        Assert.Equal(before.Ensembles[1].Bookies, after.Ensembles[1].Bookies);
        Assert.Equal(before.Ensembles[1].FirstEntryId, worker.EntriesCopied);
        await AssertFullyReplicatedAsync(cluster, after);
    }

    [Fact]
    public async Task An_open_ledger_is_left_to_its_writer_for_the_grace_period_then_fenced_and_repaired()
    {
        await using var cluster = await InProcessCluster.StartAsync(5);
        var writer = await WriteAsync(cluster, 40, close: false);
        string lost = writer.Metadata.CurrentEnsemble[0];
        await cluster.StopBookieAsync(cluster.IndexOf(lost));
        var state = new UnderReplicationStore(cluster.Store);
        await state.MarkAsync(writer.LedgerId, new Dictionary<string, ReplicaLoss> { [lost] = ReplicaLoss.Lost }, default);

        await using (var patient = new ReplicationWorker(cluster.Client, state, Options(grace: TimeSpan.FromHours(1)), NullLogger.Instance))
        {
            Assert.Equal(ReplicationOutcome.Deferred, await patient.ProcessAsync(writer.LedgerId, default));
            Assert.False((await MetadataAsync(cluster, writer.LedgerId)).IsClosed);
        }

        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Replicated, await worker.ProcessAsync(writer.LedgerId, default));
        var repaired = await MetadataAsync(cluster, writer.LedgerId);
        Assert.True(repaired.IsClosed);
        Assert.Equal(39, repaired.LastEntryId);
        Assert.DoesNotContain(lost, repaired.CurrentEnsemble);
        await AssertFullyReplicatedAsync(cluster, repaired);

        // The writer was fenced: it cannot add behind the closed end.
        await Assert.ThrowsAnyAsync<DlException>(async () => await writer.AddEntryAsync(Payload(writer.LedgerId, 40)));
    }

    [Fact]
    public async Task A_bookie_that_came_back_or_a_deleted_ledger_leaves_nothing_to_do()
    {
        await using var cluster = await InProcessCluster.StartAsync(4);
        var back = await WriteAsync(cluster, 10);
        var gone = await WriteAsync(cluster, 10);
        var before = await MetadataAsync(cluster, back.LedgerId);
        string bookie = before.CurrentEnsemble[0];
        int index = cluster.IndexOf(bookie);
        await cluster.StopBookieAsync(index);
        var state = new UnderReplicationStore(cluster.Store);
        await state.MarkAsync(back.LedgerId, new Dictionary<string, ReplicaLoss> { [bookie] = ReplicaLoss.Lost }, default);
        await state.MarkAsync(gone.LedgerId, new Dictionary<string, ReplicaLoss> { [(await MetadataAsync(cluster, gone.LedgerId)).CurrentEnsemble[0]] = ReplicaLoss.Lost }, default);
        await cluster.StartBookieAsync(index);
        await cluster.Client.DeleteLedgerAsync(gone.LedgerId);

        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(2, await worker.RunOnceAsync(default));
        Assert.Empty(await state.ListAsync(default));
        Assert.Equal(before.CurrentEnsemble, (await MetadataAsync(cluster, back.LedgerId)).CurrentEnsemble);
        Assert.Equal(0, worker.EntriesCopied);
    }

    [Fact]
    public async Task A_ledger_locked_by_another_worker_is_skipped_and_one_whose_data_is_gone_stays_marked()
    {
        await using var cluster = await InProcessCluster.StartAsync(5);
        var locked = await WriteAsync(cluster, 10);
        var ruined = await WriteAsync(cluster, 10);
        var state = new UnderReplicationStore(cluster.Store);
        var lockedBookie = (await MetadataAsync(cluster, locked.LedgerId)).CurrentEnsemble[0];
        await state.MarkAsync(locked.LedgerId, new Dictionary<string, ReplicaLoss> { [lockedBookie] = ReplicaLoss.MissingEntries }, default);
        await using var otherLease = await cluster.Store.GrantLeaseAsync(TimeSpan.FromSeconds(30));
        Assert.True(await state.TryLockAsync(locked.LedgerId, otherLease, "another worker", default));

        // Every replica of the second ledger is lost, and one bookie besides, so there are still bookies to copy to.
        var ruinedEnsemble = (await MetadataAsync(cluster, ruined.LedgerId)).CurrentEnsemble;
        foreach (string bookie in ruinedEnsemble)
        {
            await cluster.StopBookieAsync(cluster.IndexOf(bookie));
        }

        await state.MarkAsync(ruined.LedgerId, ruinedEnsemble.ToDictionary(b => b, _ => ReplicaLoss.Lost), default);
        await using var worker = new ReplicationWorker(cluster.Client, state, Options(), NullLogger.Instance);
        Assert.Equal(ReplicationOutcome.Locked, await worker.ProcessAsync(locked.LedgerId, default));
        var error = await Assert.ThrowsAsync<DlException>(() => worker.ProcessAsync(ruined.LedgerId, default));
        Assert.Contains("could not be read from any surviving replica", error.Message);
        Assert.Equal(0, await worker.RunOnceAsync(default)); // logged, not thrown: the others would go on
        Assert.Equal(2, (await state.ListAsync(default)).Count);
        Assert.Equal(ruinedEnsemble, (await MetadataAsync(cluster, ruined.LedgerId)).CurrentEnsemble);
    }
}

/// <summary>A bookie being decommissioned is left out of placement while it stays registered and readable.</summary>
public sealed class DrainingPlacementTests
{
    [Fact]
    public async Task A_draining_bookie_is_not_placeable_until_the_mark_goes()
    {
        await using var cluster = await InProcessCluster.StartAsync(4);
        string drained = cluster.BookieId(0);
        var state = new UnderReplicationStore(cluster.Store);
        await state.SetDrainingAsync(drained, default);
        await WaitAsync(() => !cluster.Registry.WritableBookies.Contains(drained), "the registry saw the draining mark");
        Assert.Equal("draining", cluster.Registry.RegisteredBookies.Single(b => b.Id == drained).NotPlaceableReason);
        for (int i = 0; i < 10; i++)
        {
            await using var ledger = await cluster.Client.CreateLedgerAsync(3, 3, 2);
            Assert.DoesNotContain(drained, ledger.Metadata.CurrentEnsemble);
        }

        await cluster.Store.DeleteAsync(UnderReplicationStore.DrainingKey(drained));
        await WaitAsync(() => cluster.Registry.WritableBookies.Contains(drained), "the registry saw the mark removed");
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within 15 s: {what}");
            await Task.Delay(50);
        }
    }
}
