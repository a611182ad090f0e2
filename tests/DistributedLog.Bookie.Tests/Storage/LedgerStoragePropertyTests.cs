using CsCheck;
using DistributedLog.Bookie.Storage;
using DistributedLog.Protocol.Errors;
using static DistributedLog.Bookie.Tests.Storage.StorageTestSupport;

namespace DistributedLog.Bookie.Tests.Storage;

/// <summary>Random sequences of add / delete / flush / restart / crash / GC, compared with a model of what must be visible.</summary>
public sealed class LedgerStoragePropertyTests
{
    private const int LedgerCount = 4;
    private const int EntryRange = 16;

    private static readonly Gen<(int Kind, int Ledger, int Entry)[]> Operations =
        Gen.Select(Gen.Int[0, 99], Gen.Int[0, LedgerCount - 1], Gen.Int[0, EntryRange - 1]).Array[1, 30];

    [Fact]
    public async Task StorageMatchesModel()
    {
        await Operations.SampleAsync(RunAsync, iter: 20, threads: 1);
    }

    private static async Task RunAsync((int Kind, int Ledger, int Entry)[] operations)
    {
        using var dir = new TempDirectory();
        // Flushes happen only when asked (the cache is far larger than the test data), so a crash loses exactly the pending adds.
        LedgerStorageOptions options = Options(dir.Path, writeCache: 8 << 20, readCache: 64 << 10, entryLogLimit: 16 << 10,
            flushOnClose: false, compactionThreshold: 0.6, readAhead: 8 << 10);
        var durable = new HashSet<(long, long)>();
        var pending = new HashSet<(long, long)>();
        var deleted = new HashSet<long>();
        DbLedgerStorage storage = DbLedgerStorage.Open(options);
        try
        {
            foreach ((int kind, int ledger, int entry) in operations)
            {
                switch (kind)
                {
                    case < 55:
                        byte[] bytes = Entry(ledger, entry, SizeFor(ledger, entry, 3000));
                        if (deleted.Contains(ledger))
                        {
                            Assert.Equal(StatusCode.NoSuchLedger, Assert.Throws<BookieException>(() => storage.TryAddEntry(ledger, entry, bytes)).Code);
                        }
                        else
                        {
                            AddOrFail(storage, ledger, entry, bytes);
                            pending.Add((ledger, entry));
                        }

                        break;
                    case < 65:
                        await storage.FlushAsync(CancellationToken.None);
                        durable.UnionWith(pending);
                        pending.Clear();
                        break;
                    case < 70:
                        storage.DeleteLedger(ledger);
                        deleted.Add(ledger);
                        durable.RemoveWhere(k => k.Item1 == ledger);
                        pending.RemoveWhere(k => k.Item1 == ledger);
                        break;
                    case < 78:
                        await storage.FlushAsync(CancellationToken.None);
                        durable.UnionWith(pending);
                        pending.Clear();
                        await storage.DisposeAsync();
                        storage = DbLedgerStorage.Open(options);
                        Verify(storage, durable, pending, deleted);
                        break;
                    case < 85:
                        // Crash: whatever was not flushed is gone (the journal would replay it).
                        await storage.DisposeAsync();
                        pending.Clear();
                        storage = DbLedgerStorage.Open(options);
                        Verify(storage, durable, pending, deleted);
                        break;
                    default:
                        await storage.CollectGarbageAsync(CancellationToken.None);
                        break;
                }
            }

            Verify(storage, durable, pending, deleted);
            await storage.FlushAsync(CancellationToken.None);
            await storage.CollectGarbageAsync(CancellationToken.None);
            await storage.DisposeAsync();
            storage = DbLedgerStorage.Open(options);
            durable.UnionWith(pending);
            pending.Clear();
            Verify(storage, durable, pending, deleted);
        }
        finally
        {
            await storage.DisposeAsync();
        }
    }

    private static void Verify(DbLedgerStorage storage, HashSet<(long, long)> durable, HashSet<(long, long)> pending, HashSet<long> deleted)
    {
        for (long ledger = 0; ledger < LedgerCount; ledger++)
        {
            long last = -1;
            for (long entry = 0; entry < EntryRange; entry++)
            {
                bool present = durable.Contains((ledger, entry)) || pending.Contains((ledger, entry));
                byte[]? read = Read(storage, ledger, entry);
                if (present)
                {
                    Assert.Equal(Entry(ledger, entry, SizeFor(ledger, entry, 3000)), read);
                    last = entry;
                }
                else
                {
                    Assert.Null(read);
                }
            }

            Assert.Equal(last, storage.GetLastEntryId(ledger));
            Assert.Equal(deleted.Contains(ledger), storage.IsDeleted(ledger));
            Assert.Equal(last >= 0, storage.LedgerExists(ledger));
        }
    }
}
