using System.Collections.Concurrent;
using DistributedLog.Bookie.Client;
using DistributedLog.Testing;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Crash;

/// <summary>
/// A bookie process is SIGKILLed at random moments while entries are added; after each restart every acknowledged
/// entry must read back bit for bit, and an entry never acknowledged may be present or absent but never corrupt.
/// </summary>
public sealed class BookieCrashTests(ITestOutputHelper output)
{
    private static readonly byte[] Key = [9, 8, 7, 6, 5];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Acknowledged_entries_survive_sigkill_at_random_moments(int seed)
    {
        var random = new Random(seed);
        string dir = Path.Combine(Path.GetTempPath(), $"dl-crash-{seed}-{Guid.NewGuid():N}");
        // Small journal files and a short checkpoint interval: kills land before, during and after checkpoints and rolls.
        await using var bookie = new BookieProcess(dir, "--journal-file-mb", "4", "--flush-interval-seconds", "0.3", "--entry-log-mb", "2",
            "--write-cache-mb", "4", "--log-level", "Warning");
        await bookie.StartAsync();
        var acked = new ConcurrentDictionary<(long Ledger, long Entry), bool>();
        var attempted = new ConcurrentDictionary<(long Ledger, long Entry), bool>();
        long[] ledgers = [seed * 1000 + 1, seed * 1000 + 2, seed * 1000 + 3];
        var nextEntry = new long[ledgers.Length];

        for (int round = 0; round < 3; round++)
        {
            await using var client = new BookieClient(new BookieClientOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                int slot = w % ledgers.Length;
                while (!stop.IsCancellationRequested)
                {
                    long entryId = Interlocked.Increment(ref nextEntry[slot]) - 1;
                    long ledgerId = ledgers[slot];
                    attempted[(ledgerId, entryId)] = true;
                    byte[] entry = Entry(seed, ledgerId, entryId);
                    var result = await client.AddEntryAsync(bookie.BookieId, Key, entry);
                    if (result.Status == StatusCode.Success)
                    {
                        acked[(ledgerId, entryId)] = true;
                    }
                    else
                    {
                        return; // the bookie died: stop this writer
                    }
                }
            })).ToList();

            await Task.Delay(random.Next(300, 1500));
            await bookie.KillAsync();
            stop.Cancel();
            await Task.WhenAll(writers);
            output.WriteLine($"seed {seed} round {round}: {acked.Count} acknowledged so far, {attempted.Count} attempted");
            await bookie.StartAsync();
            await VerifyAsync(bookie, seed, acked.Keys, attempted.Keys);
        }

        Assert.True(acked.Count > 100, $"the test wrote too little to mean anything ({acked.Count} entries)");
    }

    private static async Task VerifyAsync(BookieProcess bookie, int seed, ICollection<(long Ledger, long Entry)> acked,
        ICollection<(long Ledger, long Entry)> attempted)
    {
        await using var reader = new BookieClient();
        var ackedSet = acked.ToHashSet();
        await Parallel.ForEachAsync(attempted, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
        {
            var (ledgerId, entryId) = key;
            var read = await reader.ReadEntryAsync(bookie.BookieId, ledgerId, entryId);
            if (ackedSet.Contains((ledgerId, entryId)))
            {
                Assert.True(read.Status == StatusCode.Success, $"acknowledged entry {ledgerId}:{entryId} is missing after restart: {read.Status}\n{bookie.Output}");
                Assert.Equal(Entry(seed, ledgerId, entryId), read.Entry.ToArray());
            }
            else
            {
                Assert.True(read.Status is StatusCode.Success or StatusCode.NoSuchEntry or StatusCode.NoSuchLedger,
                    $"unacknowledged entry {ledgerId}:{entryId} read back as {read.Status}");
                if (read.Status == StatusCode.Success)
                {
                    Assert.Equal(Entry(seed, ledgerId, entryId), read.Entry.ToArray());
                }
            }
        });
    }

    private static byte[] Entry(int seed, long ledgerId, long entryId)
    {
        var random = new Random(HashCode.Combine(seed, ledgerId, entryId));
        byte[] payload = new byte[random.Next(1, 3000)];
        random.NextBytes(payload);
        byte[] entry = new byte[PackagedEntry.SizeOf(payload.Length)];
        PackagedEntry.Write(entry, ledgerId, entryId, entryId - 1, 0, payload);
        return entry;
    }
}
