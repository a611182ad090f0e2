using System.Diagnostics;
using DistributedLog.Bookie.Registration;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>
/// The bookies' scan-and-compare garbage collection against real bookie processes and a real etcd: a ledger whose
/// metadata was deleted without the bookies being told (a missed delete) is dropped by every bookie after the safety
/// delay and its disk space comes back; a ledger with metadata is never touched; nothing is deleted while etcd does
/// not answer.
/// </summary>
public sealed class OrphanLedgerGcTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static readonly TimeSpan OrphanDelay = TimeSpan.FromSeconds(2);

    /// <summary>Fast scans and storage GC, a short orphan delay, 1 MiB entry logs (so deleted ledgers leave whole files to remove).</summary>
    private static readonly string[] GcArgs =
    [
        "--gc-scan-interval-seconds", "0.3", "--gc-orphan-delay-seconds", OrphanDelay.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--gc-interval-seconds", "0.3", "--flush-interval-seconds", "0.3", "--entry-log-mb", "1",
    ];

    private static byte[] Payload(long ledgerId, long entryId, int size)
    {
        var bytes = new byte[size];
        new Random(HashCode.Combine(ledgerId, entryId)).NextBytes(bytes);
        return bytes;
    }

    private static async Task<long> WriteLedgerAsync(ProcessCluster cluster, int entries, int size)
    {
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        var adds = new List<Task<long>>();
        for (long e = 0; e < entries; e++)
        {
            adds.Add(writer.AddEntryAsync(Payload(writer.LedgerId, e, size)).AsTask());
        }

        await Task.WhenAll(adds);
        await writer.CloseAsync();
        return writer.LedgerId;
    }

    /// <summary>Bytes of entry-log files under a bookie's ledger directory.</summary>
    private static long EntryLogBytes(BookieProcess bookie) =>
        Directory.EnumerateFiles(Path.Combine(bookie.DataDirectory, "ledgers"), "*.log", SearchOption.AllDirectories)
            .Sum(f => new FileInfo(f).Length);

    private static async Task<StatusCode> ReadFirstAsync(ProcessCluster cluster, BookieProcess bookie, long ledgerId) =>
        (await cluster.Client.Bookies.ReadEntryAsync(bookie.BookieId, ledgerId, 0)).Status;

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting until {what}.");
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_ledger_without_metadata_is_deleted_after_the_delay_and_its_space_returns()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, etcd, null, _ => GcArgs);
        const int entries = 300, size = 10_000; // ~3 MB per ledger on every bookie: three 1 MiB entry logs of it alone
        long orphan = await WriteLedgerAsync(cluster, entries, size);
        long kept = await WriteLedgerAsync(cluster, entries, size);
        await WaitAsync(() => Task.FromResult(cluster.Bookies.All(b => EntryLogBytes(b) >= 2L * entries * size)), TimeSpan.FromSeconds(30),
            "both ledgers are flushed to the entry logs");
        long[] before = [.. cluster.Bookies.Select(EntryLogBytes)];
        output.WriteLine($"entry logs before: {string.Join(", ", before)} bytes");

        // A missed delete: the metadata goes, the bookies are never asked to delete the ledger.
        var clock = Stopwatch.StartNew();
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(orphan)));

        foreach (var bookie in cluster.Bookies)
        {
            await WaitAsync(async () => await ReadFirstAsync(cluster, bookie, orphan) == StatusCode.NoSuchLedger, TimeSpan.FromSeconds(30),
                $"bookie {bookie.BookieId} deletes orphan ledger {orphan}");
        }

        TimeSpan deletedAfter = clock.Elapsed;
        output.WriteLine($"orphan deleted on all bookies {deletedAfter.TotalSeconds:F1} s after its metadata");
        Assert.True(deletedAfter >= OrphanDelay, $"the orphan must outlive the safety delay of {OrphanDelay} (deleted after {deletedAfter})");

        // Its space comes back: the storage GC removes the entry logs that only held it.
        for (int i = 0; i < cluster.Bookies.Count; i++)
        {
            var bookie = cluster.Bookies[i];
            long expectedAtMost = before[i] - 2L * (1 << 20);
            await WaitAsync(() => Task.FromResult(EntryLogBytes(bookie) <= expectedAtMost), TimeSpan.FromSeconds(30),
                $"bookie {bookie.BookieId} reclaims at least 2 MiB (had {before[i]}, now {EntryLogBytes(bookie)})");
        }

        output.WriteLine($"entry logs after: {string.Join(", ", cluster.Bookies.Select(EntryLogBytes))} bytes");

        // Let a few more rounds pass: the ledger with metadata is never touched, on any bookie.
        await Task.Delay(OrphanDelay + TimeSpan.FromSeconds(1));
        foreach (var bookie in cluster.Bookies)
        {
            Assert.Equal(StatusCode.Success, await ReadFirstAsync(cluster, bookie, kept));
        }

        var reader = await cluster.Client.OpenLedgerAsync(kept);
        var read = await reader.ReadAsync(0, entries - 1);
        Assert.Equal(entries, read.Count);
        foreach (var entry in read)
        {
            Assert.Equal(Payload(kept, entry.EntryId, size), entry.Payload.ToArray());
        }
    }

    [Fact]
    public async Task Nothing_is_deleted_while_the_metadata_store_does_not_answer()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, etcd, null, _ => GcArgs);
        long orphan = await WriteLedgerAsync(cluster, 10, 100);
        Assert.True(await cluster.Store.DeleteAsync(LedgerKeys.Ledger(orphan)));
        etcd.Pause();
        try
        {
            // Several delays and many scan intervals pass; no round can list the metadata, so none may delete.
            await Task.Delay(3 * OrphanDelay);
            foreach (var bookie in cluster.Bookies)
            {
                Assert.Equal(StatusCode.Success, await ReadFirstAsync(cluster, bookie, orphan));
            }
        }
        finally
        {
            etcd.Resume();
        }

        // Once etcd answers again the missed delete is repaired (the collector was alive, only held back).
        foreach (var bookie in cluster.Bookies)
        {
            await WaitAsync(async () => await ReadFirstAsync(cluster, bookie, orphan) == StatusCode.NoSuchLedger, TimeSpan.FromSeconds(60),
                $"bookie {bookie.BookieId} deletes orphan ledger {orphan} after etcd resumed");
        }
    }
}
