using DistributedLog.Bookie.Storage;
using DistributedLog.Protocol.Errors;
using static DistributedLog.Bookie.Tests.Storage.StorageTestSupport;

namespace DistributedLog.Bookie.Tests.Storage;

public sealed class ConcurrencyStressTests
{
    [Theory]
    [InlineData(20240601)]
    [InlineData(7)]
    public async Task AddsReadsFlushesAndGarbageCollectionRunTogether(int seed)
    {
        using var dir = new TempDirectory();
        LedgerStorageOptions options = Options(dir.Path, writeCache: 192 << 10, readCache: 128 << 10, entryLogLimit: 128 << 10,
            compactionThreshold: 0.9);
        const int Writers = 3;
        const int LedgersPerWriter = 3;
        const int EntriesPerLedger = 120;
        const int Victims = 4;

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            // Ledgers that garbage collection will reclaim while the rest runs.
            for (long v = 0; v < Victims; v++)
            {
                for (long e = 0; e < 60; e++)
                {
                    await AddAsync(storage, 1000 + v, e, Entry(1000 + v, e, SizeFor(1000 + v, e)));
                }

                await storage.FlushAsync(CancellationToken.None);
            }

            long[] acked = new long[Writers * LedgersPerWriter + 1];
            Array.Fill(acked, -1);
            using var done = new CancellationTokenSource();
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();

            async Task Guard(Func<Task> body)
            {
                try
                {
                    await body();
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            }

            var writers = new List<Task>();
            for (int w = 0; w < Writers; w++)
            {
                int writer = w;
                writers.Add(Task.Run(() => Guard(async () =>
                {
                    var random = new Random(seed + writer);
                    for (long e = 0; e < EntriesPerLedger; e++)
                    {
                        for (int i = 0; i < LedgersPerWriter; i++)
                        {
                            long ledger = 1 + writer * LedgersPerWriter + i;
                            await AddAsync(storage, ledger, e, Entry(ledger, e, SizeFor(ledger, e, 1500)));
                            Volatile.Write(ref acked[ledger], e);
                        }

                        if (random.Next(10) == 0)
                        {
                            await Task.Yield();
                        }
                    }
                })));
            }

            Task reader = Task.Run(() => Guard(async () =>
            {
                var random = new Random(seed ^ 0x5555);
                while (!done.IsCancellationRequested)
                {
                    long ledger = 1 + random.Next(Writers * LedgersPerWriter);
                    long hi = Volatile.Read(ref acked[ledger]);
                    if (hi < 0)
                    {
                        await Task.Yield();
                        continue;
                    }

                    long e = random.Next((int)hi + 1);
                    byte[]? read = Read(storage, ledger, e);
                    if (read is null || !read.AsSpan().SequenceEqual(Entry(ledger, e, SizeFor(ledger, e, 1500))))
                    {
                        throw new InvalidOperationException($"read of {ledger}:{e} returned {(read is null ? "nothing" : "wrong bytes")}");
                    }

                    if (storage.GetLastEntryId(ledger) < hi)
                    {
                        throw new InvalidOperationException($"last entry of {ledger} went below {hi}");
                    }
                }
            }));

            Task flusher = Task.Run(() => Guard(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    await storage.FlushAsync(CancellationToken.None);
                    await Task.Delay(3);
                }
            }));

            int reclaimedLogs = 0;
            Task collector = Task.Run(() => Guard(async () =>
            {
                for (long v = 0; v < Victims && !done.IsCancellationRequested; v++)
                {
                    await Task.Delay(20);
                    storage.DeleteLedger(1000 + v);
                    GarbageCollectionResult result = await storage.CollectGarbageAsync(CancellationToken.None);
                    reclaimedLogs += result.EntryLogsDeleted + result.EntryLogsCompacted;
                }
            }));

            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));
            await collector.WaitAsync(TimeSpan.FromSeconds(60));
            await done.CancelAsync();
            await Task.WhenAll(reader, flusher).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Empty(failures);
            Assert.True(reclaimedLogs > 0, "garbage collection should have reclaimed the victims' logs during the run");

            await storage.FlushAsync(CancellationToken.None);
            await storage.CollectGarbageAsync(CancellationToken.None);
            VerifyAll(storage);
        }

        await using (DbLedgerStorage storage = DbLedgerStorage.Open(options))
        {
            VerifyAll(storage);
        }

        void VerifyAll(DbLedgerStorage storage)
        {
            for (long ledger = 1; ledger <= Writers * LedgersPerWriter; ledger++)
            {
                Assert.Equal(EntriesPerLedger - 1, storage.GetLastEntryId(ledger));
                for (long e = 0; e < EntriesPerLedger; e++)
                {
                    Assert.Equal(Entry(ledger, e, SizeFor(ledger, e, 1500)), Read(storage, ledger, e));
                }
            }

            for (long v = 0; v < Victims; v++)
            {
                Assert.True(storage.IsDeleted(1000 + v));
                Assert.Null(Read(storage, 1000 + v, 0));
                Assert.Throws<BookieException>(() => storage.TryAddEntry(1000 + v, 0, Entry(1000 + v, 0)));
            }
        }
    }
}
