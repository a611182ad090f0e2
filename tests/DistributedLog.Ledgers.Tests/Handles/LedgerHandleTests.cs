using System.Collections.Concurrent;
using System.Text;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;

namespace DistributedLog.Ledgers.Tests.Handles;

/// <summary>Replicated ledgers over in-process bookies (real TCP and files) and the embedded metadata store.</summary>
public sealed class LedgerHandleTests : IAsyncLifetime
{
    private InProcessCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await InProcessCluster.StartAsync(4, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(15) });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"ledger {ledgerId} entry {entryId} {new string('x', (int)(entryId % 50))}");

    [Fact]
    public async Task Adds_are_acknowledged_in_order_and_read_back_after_close()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        for (long e = 0; e < 100; e++)
        {
            Assert.Equal(e, await writer.AddEntryAsync(Payload(writer.LedgerId, e)));
        }

        await writer.CloseAsync();
        Assert.Equal(LedgerState.Closed, writer.Metadata.State);
        Assert.Equal(99, writer.Metadata.LastEntryId);

        var reader = await _cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        Assert.True(reader.IsClosed);
        var entries = await reader.ReadAsync(0, 99);
        for (int e = 0; e < 100; e++)
        {
            Assert.Equal(Payload(writer.LedgerId, e), entries[e].Payload.ToArray());
        }
    }

    [Fact]
    public async Task Concurrent_adds_complete_strictly_in_entry_order()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        // Completions run their continuations asynchronously, so the order continuations happen to run in says nothing.
        // What each one can check, whatever the scheduling, is the state at the moment it completes: entry i may complete
        // only once i and every entry before it are acknowledged, so the writer's LAC is already >= i then. An entry
        // completed out of order (before an earlier one) is seen with a smaller LAC. (The order of completions within one
        // batch the handle acknowledges at once is not observable from outside: their continuations are queued together.)
        var lacAtCompletion = new long[2000];
        var completedIds = new long[2000];
        var adds = new List<Task>();
        for (int i = 0; i < 2000; i++)
        {
            adds.Add(ObserveAsync(writer.AddEntryAsync(Payload(writer.LedgerId, i)), i));
        }

        async Task ObserveAsync(ValueTask<long> add, int index)
        {
            completedIds[index] = await add;
            lacAtCompletion[index] = writer.LastAddConfirmed;
        }

        await Task.WhenAll(adds);
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => (long)i), completedIds);
        var early = Enumerable.Range(0, 2000).Where(i => lacAtCompletion[i] < i).ToList();
        Assert.True(early.Count == 0,
            $"{early.Count} adds completed before an earlier entry was acknowledged, e.g. entry {early.FirstOrDefault()} with LAC {(early.Count > 0 ? lacAtCompletion[early[0]] : 0)}");
        Assert.Equal(1999, writer.LastAddConfirmed);
    }

    [Fact]
    public async Task An_add_after_close_fails_with_LedgerClosed()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        Assert.Equal(0, await writer.AddEntryAsync(Payload(writer.LedgerId, 0)));
        await writer.CloseAsync();
        var error = await Assert.ThrowsAsync<DlException>(async () => await writer.AddEntryAsync(Payload(writer.LedgerId, 1)));
        Assert.Equal(StatusCode.LedgerClosed, error.Code);
        Assert.False(error.IsRetryable);
        Assert.Contains("is closed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_bookie_is_replaced_and_no_acknowledged_entry_is_lost()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync(3, 3, 2);
        var acked = new List<long>();
        for (long e = 0; e < 200; e++)
        {
            acked.Add(await writer.AddEntryAsync(Payload(writer.LedgerId, e)));
        }

        string victim = writer.Metadata.CurrentEnsemble[1];
        await _cluster.StopBookieAsync(_cluster.IndexOf(victim));
        for (long e = 200; e < 400; e++)
        {
            acked.Add(await writer.AddEntryAsync(Payload(writer.LedgerId, e)));
        }

        Assert.Equal(Enumerable.Range(0, 400).Select(i => (long)i), acked);
        Assert.True(writer.EnsembleChanges >= 1);
        await writer.CloseAsync();

        var stored = (await _cluster.LedgerStore.ReadAsync(writer.LedgerId, default))!.Value;
        Assert.True(stored.Ensembles.Count >= 2, "the metadata should show the ensemble change");
        Assert.DoesNotContain(victim, stored.CurrentEnsemble);
        var reader = await _cluster.Client.OpenLedgerAsync(writer.LedgerId);
        var entries = await reader.ReadAsync(0, 399);
        for (int e = 0; e < 400; e++)
        {
            Assert.Equal(Payload(writer.LedgerId, e), entries[e].Payload.ToArray());
        }
    }

    [Fact]
    public async Task A_reader_opened_before_ensemble_changes_finds_entries_on_the_new_bookies()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync(2, 2, 2);
        await writer.AddEntryAsync(Payload(writer.LedgerId, 0));
        var reader = await _cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId); // knows only the first ensemble

        // Both bookies of the first ensemble go away one after the other: later entries live only on their replacements.
        foreach (string victim in writer.Metadata.CurrentEnsemble.ToList())
        {
            await _cluster.StopBookieAsync(_cluster.IndexOf(victim));
            await writer.AddEntryAsync(Payload(writer.LedgerId, writer.LastAddConfirmed + 1));
        }

        await writer.AddEntryAsync(Payload(writer.LedgerId, writer.LastAddConfirmed + 1));
        Assert.True(writer.EnsembleChanges >= 2);
        Assert.Empty(writer.Metadata.CurrentEnsemble.Intersect(reader.Metadata.CurrentEnsemble));
        long last = writer.LastAddConfirmed - 1; // the LAC the bookies were told about
        var entry = await reader.ReadEntryAsync(last);
        Assert.Equal(Payload(writer.LedgerId, last), entry.Payload.ToArray());
    }

    [Fact]
    public async Task Recovery_fences_the_old_writer_and_keeps_everything_it_saw_acknowledged()
    {
        var writer = await _cluster.Client.CreateLedgerAsync();
        long lastAcked = -1;
        for (long e = 0; e < 50; e++)
        {
            lastAcked = await writer.AddEntryAsync(Payload(writer.LedgerId, e));
        }

        await using var other = new LedgerClient(_cluster.LedgerStore, _cluster.Registry);
        var recovered = await other.OpenLedgerAsync(writer.LedgerId);
        Assert.True(recovered.IsClosed);
        Assert.True(recovered.Metadata.LastEntryId >= lastAcked, $"recovered last entry {recovered.Metadata.LastEntryId} < acknowledged {lastAcked}");

        var fenced = await Assert.ThrowsAnyAsync<DlException>(async () => await writer.AddEntryAsync(Payload(writer.LedgerId, 50)));
        Assert.Equal(StatusCode.LedgerFenced, fenced.Code);
        await Assert.ThrowsAnyAsync<DlException>(() => writer.CloseAsync());
        var entries = await recovered.ReadAsync(0, recovered.Metadata.LastEntryId);
        Assert.Equal(Payload(writer.LedgerId, 49), entries[49].Payload.ToArray());
    }

    [Fact]
    public async Task Concurrent_recoveries_converge_on_one_last_entry()
    {
        var writer = await _cluster.Client.CreateLedgerAsync();
        var pending = Enumerable.Range(0, 300).Select(e => writer.AddEntryAsync(Payload(writer.LedgerId, e)).AsTask()).ToList();
        await Task.Delay(5);
        await using var a = new LedgerClient(_cluster.LedgerStore, _cluster.Registry);
        await using var b = new LedgerClient(_cluster.LedgerStore, _cluster.Registry);
        var results = await Task.WhenAll(a.OpenLedgerAsync(writer.LedgerId), b.OpenLedgerAsync(writer.LedgerId));
        Assert.Equal(results[0].Metadata.LastEntryId, results[1].Metadata.LastEntryId);
        long acknowledged = -1;
        foreach (var add in pending)
        {
            try
            {
                acknowledged = Math.Max(acknowledged, await add);
            }
            catch (DlException e) when (e.Code == StatusCode.LedgerFenced)
            {
            }
        }

        Assert.True(results[0].Metadata.LastEntryId >= acknowledged);
    }

    [Fact]
    public async Task Tailing_reader_sees_entries_once_the_lac_covers_them_and_never_beyond()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        var reader = await _cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        Assert.Equal(-1, reader.LastAddConfirmed);
        var seen = new List<long>();
        var tail = Task.Run(async () =>
        {
            while (seen.Count < 99)
            {
                var entry = await reader.WaitForEntryAsync(seen.Count, TimeSpan.FromSeconds(5));
                if (entry is null)
                {
                    continue;
                }

                // Never an entry the writer has not acknowledged.
                Assert.True(entry.EntryId <= writer.LastAddConfirmed, $"reader saw {entry.EntryId} beyond the writer's LAC {writer.LastAddConfirmed}");
                Assert.Equal(Payload(writer.LedgerId, entry.EntryId), entry.Payload.ToArray());
                seen.Add(entry.EntryId);
            }
        });
        for (long e = 0; e < 100; e++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, e));
        }

        await tail.WaitAsync(TimeSpan.FromSeconds(60));
        // The last entry's LAC travels on the next entry, so the tail sees up to entry 98.
        Assert.Equal(Enumerable.Range(0, 99).Select(i => (long)i), seen);
    }

    [Fact]
    public async Task Reads_fail_over_when_a_replica_is_down()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        for (long e = 0; e < 30; e++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, e));
        }

        await writer.CloseAsync();
        await _cluster.StopBookieAsync(_cluster.IndexOf(writer.Metadata.CurrentEnsemble[0]));
        var reader = await _cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        var entries = await reader.ReadAsync(0, 29);
        Assert.Equal(Payload(writer.LedgerId, 29), entries[29].Payload.ToArray());
    }

    [Fact]
    public async Task A_corrupt_replica_is_skipped()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        for (long e = 0; e < 20; e++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, e));
        }

        await writer.CloseAsync();
        // Corrupt entry 5 on the first replica of its write set, on disk.
        string victim = writer.Metadata.CurrentEnsemble[5 % 3];
        int index = _cluster.IndexOf(victim);
        await _cluster.Host(index)!.Bookie.CheckpointAsync();
        await _cluster.StopBookieAsync(index);
        string dir = Path.Combine(_cluster.BookieDirectory(index), "ledgers", "entrylogs");
        byte[] payload = Payload(writer.LedgerId, 5);
        bool corrupted = false;
        foreach (string log in Directory.GetFiles(dir))
        {
            byte[] bytes = await File.ReadAllBytesAsync(log);
            int at = bytes.AsSpan().IndexOf(payload);
            if (at >= 0)
            {
                bytes[at + 3] ^= 0xFF;
                await File.WriteAllBytesAsync(log, bytes);
                corrupted = true;
            }
        }

        Assert.True(corrupted);
        await _cluster.StartBookieAsync(index);
        var reader = await _cluster.Client.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        Assert.Equal(payload, (await reader.ReadEntryAsync(5)).Payload.ToArray());
    }

    [Fact]
    public async Task Deleted_ledger_is_gone_from_metadata_and_bookies()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync();
        await writer.AddEntryAsync(Payload(writer.LedgerId, 0));
        await writer.CloseAsync();
        await _cluster.Client.DeleteLedgerAsync(writer.LedgerId);
        Assert.Null(await _cluster.LedgerStore.ReadAsync(writer.LedgerId, default));
        var read = await _cluster.Client.Bookies.ReadEntryAsync(writer.Metadata.CurrentEnsemble[0], writer.LedgerId, 0);
        Assert.Equal(StatusCode.NoSuchLedger, read.Status);
        var missing = await Assert.ThrowsAsync<DlException>(() => _cluster.Client.OpenLedgerAsync(writer.LedgerId));
        Assert.Equal(StatusCode.NoSuchLedger, missing.Code);
    }

    [Fact]
    public async Task Too_few_bookies_is_a_clear_error()
    {
        var error = await Assert.ThrowsAsync<DlException>(() => _cluster.Client.CreateLedgerAsync(5, 3, 2));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("only 4", error.Message, StringComparison.Ordinal);
    }
}
