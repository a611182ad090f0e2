using DistributedLog.Bookie.Storage;
using static DistributedLog.Bookie.Tests.Storage.StorageTestSupport;

namespace DistributedLog.Bookie.Tests.Storage;

public sealed class FaultInjectionTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FailedFlushKeepsEntriesReadableAndALaterFlushMakesThemDurable(bool failWrites)
    {
        using var dir = new TempDirectory();
        var faults = new TestFaults();
        LedgerStorageOptions options = Options(dir.Path, faults: faults, flushOnClose: false);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 10; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e, 700));
            }

            await storage.FlushAsync(CancellationToken.None);
            for (long e = 10; e < 20; e++)
            {
                AddOrFail(storage, 1, e, Entry(1, e, 700));
            }

            faults.FailWrites = failWrites;
            faults.FailSyncs = !failWrites;
            await Assert.ThrowsAnyAsync<IOException>(() => storage.FlushAsync(CancellationToken.None));
            await Assert.ThrowsAnyAsync<IOException>(() => storage.FlushAsync(CancellationToken.None));
            Assert.True(faults.InjectedFailures >= 2);
            for (long e = 0; e < 20; e++)
            {
                Assert.Equal(Entry(1, e, 700), Read(storage, 1, e));
                Assert.Equal(e < 10, storage.IsIndexed(1, e));
            }

            // More adds while the storage is failing.
            AddOrFail(storage, 1, 20, Entry(1, 20, 700));
            Assert.Equal(20, storage.GetLastEntryId(1));

            faults.FailWrites = false;
            faults.FailSyncs = false;
            await storage.FlushAsync(CancellationToken.None);
            for (long e = 0; e <= 20; e++)
            {
                Assert.True(storage.IsIndexed(1, e));
            }
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e <= 20; e++)
            {
                Assert.Equal(Entry(1, e, 700), Read(storage, 1, e));
            }

            // The abandoned log holds only garbage past its indexed entries; GC keeps what is live.
            await storage.CollectGarbageAsync(CancellationToken.None);
            for (long e = 0; e <= 20; e++)
            {
                Assert.Equal(Entry(1, e, 700), Read(storage, 1, e));
            }
        }
    }

    [Fact]
    public async Task NothingIsDurableAfterAFailedFlushAndACrash()
    {
        using var dir = new TempDirectory();
        var faults = new TestFaults();
        LedgerStorageOptions options = Options(dir.Path, faults: faults, flushOnClose: false);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            for (long e = 0; e < 5; e++)
            {
                AddOrFail(storage, 4, e, Entry(4, e));
            }

            faults.FailSyncs = true;
            await Assert.ThrowsAnyAsync<IOException>(() => storage.FlushAsync(CancellationToken.None));
        }

        faults.FailSyncs = false;
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            Assert.False(storage.LedgerExists(4));
            Assert.Null(Read(storage, 4, 0));
            Assert.Equal(-1, storage.GetLastEntryId(4));

            // The log the failed flush was writing held nothing indexed, so it was removed at once.
            Assert.Empty(dir.EntryLogFiles());
        }
    }

    [Fact]
    public async Task BackgroundFlushFailureSurfacesThroughAddsAndIsRecoverable()
    {
        using var dir = new TempDirectory();
        var faults = new TestFaults { FailWrites = true };
        LedgerStorageOptions options = Options(dir.Path, writeCache: 64 << 10, faults: faults, flushOnClose: false);
        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            IOException? failure = null;
            long added = 0;
            for (int attempt = 0; attempt < 2000 && failure is null; attempt++)
            {
                try
                {
                    if (storage.TryAddEntry(1, added, Entry(1, added, 1000)))
                    {
                        added++;
                    }
                    else
                    {
                        await storage.WaitForCacheSpaceAsync(CancellationToken.None);
                    }
                }
                catch (IOException e)
                {
                    failure = e;
                }
            }

            Assert.NotNull(failure);
            Assert.True(added > 20);
            for (long e = 0; e < added; e++)
            {
                Assert.Equal(Entry(1, e, 1000), Read(storage, 1, e));
            }

            faults.FailWrites = false;
            await storage.FlushAsync(CancellationToken.None);
            Assert.True(storage.TryAddEntry(1, added, Entry(1, added, 1000)));
            await storage.FlushAsync(CancellationToken.None);
            for (long e = 0; e <= added; e++)
            {
                Assert.True(storage.IsIndexed(1, e), $"entry {e} not durable");
            }
        }
    }
}
