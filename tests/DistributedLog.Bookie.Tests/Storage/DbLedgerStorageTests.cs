using DistributedLog.Bookie.Storage;
using DistributedLog.Protocol.Errors;
using RocksDbSharp;
using static DistributedLog.Bookie.Tests.Storage.StorageTestSupport;

namespace DistributedLog.Bookie.Tests.Storage;

public sealed class DbLedgerStorageTests
{
    [Fact]
    public void RocksDbNativeLibraryLoads()
    {
        using var dir = new TempDirectory();
        using (RocksDb db = RocksDb.Open(new DbOptions().SetCreateIfMissing(true), dir.Path))
        {
            db.Put([1, 2, 3], [4, 5]);
        }

        using RocksDb reopened = RocksDb.Open(new DbOptions(), dir.Path);
        Assert.Equal(new byte[] { 4, 5 }, reopened.Get([1, 2, 3]));
    }

    [Fact]
    public async Task EntriesAreReadableFromCacheAfterFlushAndAfterReopen()
    {
        using var dir = new TempDirectory();
        var expected = new Dictionary<long, byte[]>();
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(Options(dir.Path, flushOnClose: false)))
        {
            for (long e = 0; e < 50; e++)
            {
                expected[e] = Entry(7, e, SizeFor(7, e));
                AddOrFail(storage, 7, e, expected[e]);
            }

            Assert.True(storage.LedgerExists(7));
            Assert.True(storage.GetStats().WriteCacheBytes > 0);
            foreach ((long e, byte[] bytes) in expected)
            {
                Assert.Equal(bytes, Read(storage, 7, e));
            }

            Assert.False(storage.IsIndexed(7, 0));
            await storage.FlushAsync(CancellationToken.None);
            Assert.True(storage.IsIndexed(7, 49));
            LedgerStorageStats stats = storage.GetStats();
            Assert.Equal(0, stats.WriteCacheBytes);
            Assert.Equal(1, stats.EntryLogCount);
            Assert.Equal(1, stats.LedgerCount);
            foreach ((long e, byte[] bytes) in expected)
            {
                Assert.Equal(bytes, Read(storage, 7, e));
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(Options(dir.Path)))
        {
            // A miss reads ahead: the entries after the one asked for land in the read cache too.
            Assert.Equal(expected[0], Read(storage, 7, 0));
            Assert.True(storage.GetStats().ReadCacheBytes > expected[0].Length + expected[1].Length);
            Assert.True(storage.LedgerExists(7));
            Assert.Equal(49, storage.GetLastEntryId(7));
            foreach ((long e, byte[] bytes) in expected)
            {
                Assert.Equal(bytes, Read(storage, 7, e));
            }

            Assert.Null(Read(storage, 7, 50));
            Assert.Null(Read(storage, 8, 0));
            Assert.True(storage.GetStats().ReadCacheBytes > 0);
        }
    }

    [Fact]
    public async Task ManyLedgersInterleavedAcrossFlushesRollsAndReopens()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, writeCache: 256 << 10, entryLogLimit: 64 << 10, flushOnClose: false);
        const int Ledgers = 12;
        const int EntriesPerLedger = 40;
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < EntriesPerLedger; e++)
            {
                for (long l = 1; l <= Ledgers; l++)
                {
                    await AddAsync(storage, l, e, Entry(l, e, SizeFor(l, e)));
                }

                if (e % 13 == 0)
                {
                    await storage.FlushAsync(CancellationToken.None);
                }
            }

            await storage.FlushAsync(CancellationToken.None);
        }

        Assert.True(dir.EntryLogFiles().Length > 3, "the small size limit should have rolled several entry logs");
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.Equal(Ledgers, storage.GetStats().LedgerCount);
            for (long l = 1; l <= Ledgers; l++)
            {
                Assert.Equal(EntriesPerLedger - 1, storage.GetLastEntryId(l));
                for (long e = 0; e < EntriesPerLedger; e++)
                {
                    Assert.Equal(Entry(l, e, SizeFor(l, e)), Read(storage, l, e));
                }
            }
        }
    }

    [Fact]
    public async Task LastEntryIdCombinesCacheAndIndex()
    {
        using var dir = new TempDirectory();
        await using DbLedgerStorage storage = DbLedgerStorage.Open(Options(dir.Path));
        Assert.Equal(-1, storage.GetLastEntryId(3));
        AddOrFail(storage, 3, 0, Entry(3, 0));
        AddOrFail(storage, 3, 5, Entry(3, 5));
        AddOrFail(storage, 3, 2, Entry(3, 2));
        Assert.Equal(5, storage.GetLastEntryId(3));
        await storage.FlushAsync(CancellationToken.None);
        Assert.Equal(5, storage.GetLastEntryId(3));
        AddOrFail(storage, 3, 9, Entry(3, 9));
        Assert.Equal(9, storage.GetLastEntryId(3));
        AddOrFail(storage, 4, 1, Entry(4, 1));
        Assert.Equal(1, storage.GetLastEntryId(4));
        Assert.Equal(9, storage.GetLastEntryId(3));
        await storage.FlushAsync(CancellationToken.None);
        Assert.Equal(9, storage.GetLastEntryId(3));
        Assert.Equal(1, storage.GetLastEntryId(4));
    }

    [Fact]
    public async Task FenceAndMasterKeySurviveReopen()
    {
        using var dir = new TempDirectory();
        byte[] key = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
        LedgerStorageOptions options = Options(dir.Path, flushOnClose: false);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.False(storage.LedgerExists(11));
            Assert.True(storage.SetMasterKey(11, key));
            Assert.True(storage.SetMasterKey(11, key));
            Assert.False(storage.SetMasterKey(11, [9, 9]));
            Assert.True(storage.LedgerExists(11));
            Assert.False(storage.IsFenced(11));
            Assert.True(storage.SetFenced(11));
            Assert.False(storage.SetFenced(11));
            Assert.True(storage.IsFenced(11));
            Assert.True(storage.SetFenced(12));
            await storage.FlushAsync(CancellationToken.None);
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.True(storage.LedgerExists(11));
            Assert.True(storage.IsFenced(11));
            Assert.True(storage.IsFenced(12));
            Assert.True(storage.LedgerExists(12));
            byte[] read = new byte[64];
            int length = storage.GetMasterKey(11, read);
            Assert.Equal(key, read.AsSpan(0, length).ToArray());
            Assert.Equal(-1, storage.GetMasterKey(12, read));
            Assert.Equal(-1, storage.GetMasterKey(99, read));
            Assert.False(storage.SetMasterKey(11, [1]));
            Assert.Throws<ArgumentException>(() => storage.GetMasterKey(11, new byte[4]));
        }
    }

    [Fact]
    public async Task DeleteMakesReadsFailAtOnceAndDurably()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, flushOnClose: false);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            storage.SetMasterKey(5, [1]);
            for (long e = 0; e < 10; e++)
            {
                AddOrFail(storage, 5, e, Entry(5, e));
                AddOrFail(storage, 6, e, Entry(6, e));
            }

            await storage.FlushAsync(CancellationToken.None);
            AddOrFail(storage, 5, 10, Entry(5, 10));
            Assert.NotNull(Read(storage, 5, 3));
            storage.DeleteLedger(5);
            storage.DeleteLedger(5);
            Assert.True(storage.IsDeleted(5));
            Assert.False(storage.LedgerExists(5));
            Assert.Null(Read(storage, 5, 3));
            Assert.Null(Read(storage, 5, 10));
            Assert.Equal(-1, storage.GetLastEntryId(5));
            Assert.Equal(-1, storage.GetMasterKey(5, new byte[8]));
            BookieException add = Assert.Throws<BookieException>(() => storage.TryAddEntry(5, 11, Entry(5, 11)));
            Assert.Equal(StatusCode.NoSuchLedger, add.Code);
            Assert.Equal(StatusCode.NoSuchLedger, Assert.Throws<BookieException>(() => storage.SetFenced(5)).Code);
            Assert.Equal(StatusCode.NoSuchLedger, Assert.Throws<BookieException>(() => storage.SetMasterKey(5, [1])).Code);

            // Deleting a ledger this bookie never saw leaves a tombstone too.
            storage.DeleteLedger(77);
            Assert.True(storage.IsDeleted(77));
            Assert.Equal(1, storage.GetStats().LedgerCount);

            // No flush: the deletion must be durable on its own.
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.True(storage.IsDeleted(5));
            Assert.True(storage.IsDeleted(77));
            Assert.Null(Read(storage, 5, 3));
            Assert.Throws<BookieException>(() => storage.TryAddEntry(5, 0, Entry(5, 0)));
            Assert.Equal(Entry(6, 9), Read(storage, 6, 9));
        }
    }

    [Fact]
    public async Task OverwritingAnEntryIsAccepted()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            AddOrFail(storage, 1, 0, Entry(1, 0));
            AddOrFail(storage, 1, 0, Entry(1, 0));
            await storage.FlushAsync(CancellationToken.None);
        }

        // Journal replay after a restart adds the same entries again.
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            AddOrFail(storage, 1, 0, Entry(1, 0));
            AddOrFail(storage, 1, 1, Entry(1, 1));
            await storage.FlushAsync(CancellationToken.None);
            Assert.Equal(Entry(1, 0), Read(storage, 1, 0));
            Assert.Equal(1, storage.GetLastEntryId(1));
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.Equal(Entry(1, 0), Read(storage, 1, 0));
            Assert.Equal(Entry(1, 1), Read(storage, 1, 1));
        }
    }

    [Fact]
    public async Task EntryLargerThanHalfTheCacheIsStoredAndFlushed()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, writeCache: 64 << 10, entryLogLimit: 64 << 10);
        byte[] big = Entry(2, 0, (1 << 20) - (4 << 10));
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            await AddAsync(storage, 2, 0, big);
            await AddAsync(storage, 2, 1, Entry(2, 1));
            await AddAsync(storage, 2, 2, Entry(2, 2, 300_000));
            Assert.Equal(big, Read(storage, 2, 0));
            await storage.FlushAsync(CancellationToken.None);
            Assert.Equal(big, Read(storage, 2, 0));
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.Equal(big, Read(storage, 2, 0));
            Assert.Equal(Entry(2, 1), Read(storage, 2, 1));
            Assert.Equal(Entry(2, 2, 300_000), Read(storage, 2, 2));
        }
    }

    [Fact]
    public async Task FullWriteCacheRefusesAddsUntilAFlushFreesIt()
    {
        using var dir = new TempDirectory();
        var faults = new TestFaults();
        LedgerStorageOptions options = Options(dir.Path, writeCache: 64 << 10, faults: faults);
        await using DbLedgerStorage storage = DbLedgerStorage.Open(options);
        faults.BlockSyncs();
        try
        {
            await FillWhileFlushIsBlocked(storage, faults);
        }
        finally
        {
            faults.ReleaseSyncs();
        }
    }

    private static async Task FillWhileFlushIsBlocked(DbLedgerStorage storage, TestFaults faults)
    {
        long added = 0;
        while (added < 1000 && storage.TryAddEntry(1, added, Entry(1, added, 1000)))
        {
            added++;
        }

        Assert.InRange(added, 20, 999);
        Assert.False(storage.TryAddEntry(1, added, Entry(1, added, 1000)));

        // Both halves stay readable while the flush of one of them hangs.
        for (long e = 0; e < added; e++)
        {
            Assert.Equal(Entry(1, e, 1000), Read(storage, 1, e));
        }

        Task wait = storage.WaitForCacheSpaceAsync(CancellationToken.None).AsTask();
        Assert.True(SpinWait.SpinUntil(() => faults.BlockedSyncs > 0, TimeSpan.FromSeconds(10)), "the background flush never reached its sync");
        await Task.Delay(20);
        Assert.False(wait.IsCompleted);
        faults.ReleaseSyncs();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(storage.TryAddEntry(1, added, Entry(1, added, 1000)));
        await storage.FlushAsync(CancellationToken.None);
        for (long e = 0; e <= added; e++)
        {
            Assert.True(storage.IsIndexed(1, e));
        }
    }

    [Fact]
    public async Task ConcurrentFlushCallersEachGetTheirEntriesDurable()
    {
        using var dir = new TempDirectory();
        await using DbLedgerStorage storage = DbLedgerStorage.Open(Options(dir.Path, writeCache: 256 << 10));
        var tasks = new List<Task>();
        for (int t = 0; t < 8; t++)
        {
            long ledger = t + 1;
            tasks.Add(Task.Run(async () =>
            {
                for (long e = 0; e < 25; e++)
                {
                    await AddAsync(storage, ledger, e, Entry(ledger, e));
                    await storage.FlushAsync(CancellationToken.None);
                    Assert.True(storage.IsIndexed(ledger, e), $"{ledger}:{e} not durable after FlushAsync returned");
                }
            }));
        }

        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task CorruptByteOnDiskIsReportedAsChecksumFailure()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 10; e++)
            {
                AddOrFail(storage, 9, e, Entry(9, e, 500));
            }

            await storage.FlushAsync(CancellationToken.None);
        }

        string log = Assert.Single(dir.EntryLogFiles());
        long offset = FindEntryOffset(log, 9, 5);
        Assert.True(offset > 0);
        using (FileStream stream = File.Open(log, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = offset + 200;
            int b = stream.ReadByte();
            stream.Position = offset + 200;
            stream.WriteByte((byte)(b ^ 0x10));
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            // The neighbour's read-ahead stops at the corrupt entry instead of caching it.
            Assert.Equal(Entry(9, 4, 500), Read(storage, 9, 4));
            ChecksumFailedException error = Assert.Throws<ChecksumFailedException>(() => Read(storage, 9, 5));
            Assert.Equal(StatusCode.ChecksumFailed, error.Code);
            Assert.Throws<ChecksumFailedException>(() => Read(storage, 9, 5));
            Assert.Equal(Entry(9, 6, 500), Read(storage, 9, 6));
        }
    }

    [Fact]
    public async Task ReadCacheDisabledStillReadsFromDisk()
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, readCache: 0, readAhead: 0);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 5; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e));
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 5; e++)
            {
                Assert.Equal(Entry(1, e), Read(storage, 1, e));
            }

            Assert.Equal(0, storage.GetStats().ReadCacheBytes);
        }
    }

    [Fact]
    public async Task UseAfterDisposeThrows()
    {
        using var dir = new TempDirectory();
        DbLedgerStorage storage = DbLedgerStorage.Open(Options(dir.Path));
        await storage.DisposeAsync();
        await storage.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => storage.TryAddEntry(1, 0, Entry(1, 0)));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => storage.FlushAsync(CancellationToken.None));
    }
}
