using DistributedLog.Bookie.Storage;
using static DistributedLog.Bookie.Tests.Storage.StorageTestSupport;

namespace DistributedLog.Bookie.Tests.Storage;

public sealed class GarbageCollectionTests
{
    [Fact]
    public async Task EntryLogWithoutLiveLedgersIsDeleted()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 20; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e, 1000));
            }
        }

        string deadLog = Assert.Single(dir.EntryLogFiles());
        long deadSize = new FileInfo(deadLog).Length;
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 20; e++)
            {
                AddOrFail(storage, 2, e, Entry(2, e, 1000));
            }

            await storage.FlushAsync(CancellationToken.None);
            Assert.Equal(2, dir.EntryLogFiles().Length);
            storage.DeleteLedger(1);
            GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
            Assert.Equal(1, result.EntryLogsDeleted);
            Assert.Equal(0, result.EntryLogsCompacted);
            Assert.Equal(deadSize, result.BytesReclaimed);
            Assert.False(File.Exists(deadLog));
            Assert.Single(dir.EntryLogFiles());
            Assert.False(storage.IsIndexed(1, 0));
            Assert.Null(Read(storage, 1, 0));
            Assert.Equal(1, storage.GetStats().EntryLogCount);
            for (long e = 0; e < 20; e++)
            {
                Assert.Equal(Entry(2, e, 1000), Read(storage, 2, e));
            }

            // Nothing left to do.
            Assert.Equal(default, await storage.CollectGarbageAsync(CancellationToken.None));
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.True(storage.IsDeleted(1));
            Assert.Equal(-1, storage.GetLastEntryId(1));
            Assert.Single(dir.EntryLogFiles());
            for (long e = 0; e < 20; e++)
            {
                Assert.Equal(Entry(2, e, 1000), Read(storage, 2, e));
            }
        }
    }

    [Fact]
    public async Task MostlyDeadEntryLogIsCompactedAndLiveEntriesSurvive()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, readCache: 0, readAhead: 0);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 30; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e, 2000));
                AddOrFail(storage, 2, e, Entry(2, e, 150));
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 30; e++)
            {
                AddOrFail(storage, 3, e, Entry(3, e, 500));
            }
        }

        string[] before = dir.EntryLogFiles();
        Assert.Equal(2, before.Length);
        long bytesBefore = dir.EntryLogBytes();
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            storage.DeleteLedger(1);
            GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
            Assert.Equal(0, result.EntryLogsDeleted);
            Assert.Equal(1, result.EntryLogsCompacted);
            Assert.False(File.Exists(before[0]), "the mostly-dead log is gone");
            Assert.True(File.Exists(before[1]), "the fully live log is kept");
            string[] after = dir.EntryLogFiles();
            Assert.Equal(2, after.Length);
            long bytesAfter = dir.EntryLogBytes();
            Assert.True(bytesAfter < bytesBefore - 50_000, $"{bytesBefore} -> {bytesAfter}");
            Assert.InRange(result.BytesReclaimed, 50_000, bytesBefore);
            for (long e = 0; e < 30; e++)
            {
                Assert.Null(Read(storage, 1, e));
                Assert.Equal(Entry(2, e, 150), Read(storage, 2, e));
                Assert.Equal(Entry(3, e, 500), Read(storage, 3, e));
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 30; e++)
            {
                Assert.Equal(Entry(2, e, 150), Read(storage, 2, e));
                Assert.Equal(Entry(3, e, 500), Read(storage, 3, e));
            }

            Assert.Equal(29, storage.GetLastEntryId(2));

            // The compacted copy now lives in a log of its own kind: a second pass leaves everything alone.
            Assert.Equal(default, await storage.CollectGarbageAsync(CancellationToken.None));
        }
    }

    [Fact]
    public async Task UnreferencedEntryLogFilesAreDeletedAndIdsAreNotReused()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            AddOrFail(storage, 1, 0, Entry(1, 0));
        }

        // A log written by a flush that crashed before its index batch: on disk, referenced by nothing.
        string orphan = Path.Combine(dir.EntryLogs, "00000000000000ff.log");
        File.Copy(Assert.Single(dir.EntryLogFiles()), orphan);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
            Assert.Equal(1, result.EntryLogsDeleted);
            Assert.False(File.Exists(orphan));
            AddOrFail(storage, 1, 1, Entry(1, 1));
            await storage.FlushAsync(CancellationToken.None);
            string[] files = dir.EntryLogFiles();
            Assert.Equal(2, files.Length);
            Assert.Equal("0000000000000100.log", Path.GetFileName(files[^1]));
            Assert.Equal(Entry(1, 0), Read(storage, 1, 0));
            Assert.Equal(Entry(1, 1), Read(storage, 1, 1));
        }
    }

    [Fact]
    public async Task TheEntryLogBeingWrittenIsNeverDeleted()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 10; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e));
            }

            await storage.FlushAsync(CancellationToken.None);
            storage.DeleteLedger(1);
            GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
            Assert.Equal(0, result.EntryLogsDeleted);
            Assert.Single(dir.EntryLogFiles());

            // The log keeps taking entries.
            AddOrFail(storage, 2, 0, Entry(2, 0));
            await storage.FlushAsync(CancellationToken.None);
            Assert.Single(dir.EntryLogFiles());
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            // Not current any more, but ledger 2 is still live in it.
            GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
            Assert.Equal(0, result.EntryLogsDeleted);
            Assert.Equal(1, result.EntryLogsCompacted);
            Assert.Equal(Entry(2, 0), Read(storage, 2, 0));
        }
    }

    [Fact]
    public async Task ReadsStayCorrectWhileCompactionMovesEntries()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, readCache: 0, readAhead: 0, compactionThreshold: 0.95);
        const int Entries = 200;
        for (int round = 0; round < 3; round++)
        {
            await using DbLedgerStorage storage = DbLedgerStorage.Open(options);
            long dead = 100 + round;
            for (long e = 0; e < Entries; e++)
            {
                AddOrFail(storage, dead, e, Entry(dead, e, 300));
                if (round == 0)
                {
                    AddOrFail(storage, 2, e, Entry(2, e, 200));
                }
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            using var stop = new CancellationTokenSource();
            int reads = 0;
            Task reader = Task.Run(() =>
            {
                var random = new Random(42);
                while (!stop.IsCancellationRequested)
                {
                    long e = random.Next(Entries);
                    Assert.Equal(Entry(2, e, 200), Read(storage, 2, e));
                    reads++;
                }
            });
            for (int round = 0; round < 3; round++)
            {
                storage.DeleteLedger(100 + round);
                await storage.CollectGarbageAsync(CancellationToken.None);
            }

            await Task.Delay(20);
            await stop.CancelAsync();
            await reader;
            Assert.True(reads > 0);
            Assert.Single(dir.EntryLogFiles());
        }
    }
}
