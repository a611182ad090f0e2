using System.Diagnostics;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Registration;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// A real full disk (a small tmpfs filled with a ballast file) under a bookie process registered in a real etcd: adds fail
/// cleanly, the bookie is announced read-only so new ledgers avoid it, and once the ballast is deleted it turns writable
/// again by itself (no restart), announces so, takes adds again, and every acknowledged entry reads back (issue 9:
/// it used to keep the read-only state the I/O error set for good).
/// </summary>
public sealed class FullDiskTests(ITestOutputHelper output)
{
    private const int EntrySize = 32 << 10;

    /// <param name="filledBy">"journal": the journal cannot create its next file (checkpoints are hourly); "storage":
    /// the checkpoint cannot write the entry log (checkpoints every second, before the journal needs a new file).</param>
    [RootTheory]
    [InlineData("journal")]
    [InlineData("storage")]
    public async Task A_bookie_whose_disk_fills_turns_read_only_and_writable_again_when_space_returns(string filledBy)
    {
        string dir = TestEntries.TempDirectory("full-disk");
        Directory.CreateDirectory(dir);
        Assert.True(await Tmpfs.MountAsync(dir, "40m"), "mounting a tmpfs as root failed");
        var etcd = new EtcdServer();
        try
        {
            await etcd.StartAsync();
            string uri = etcd.NewStoreUri();
            await using var store = await MetadataStores.OpenAsync(uri);
            await using var registry = await MetadataBookieRegistry.StartAsync(store);
            // Journal: no checkpoint and a write cache big enough to need no flush, so the journal's next file is what fails.
            string flush = filledBy == "journal" ? "3600" : "1";
            string writeCache = filledBy == "journal" ? "64" : "8";
            await using var victim = new BookieProcess(Path.Combine(dir, "bookie"), "--metadata", uri, "--journal-file-mb", "4",
                "--write-cache-mb", writeCache, "--entry-log-mb", "4", "--flush-interval-seconds", flush, "--log-level", "Information");
            var others = Enumerable.Range(0, 3).Select(i => new BookieProcess(TestEntries.TempDirectory($"full-disk-other-{i}"), "--metadata", uri,
                "--journal-file-mb", "8", "--write-cache-mb", "8", "--log-level", "Warning")).ToList();
            try
            {
                await Task.WhenAll(others.Select(b => b.StartAsync()).Append(victim.StartAsync()));
                await registry.WaitForBookiesAsync(4, TimeSpan.FromSeconds(30));
                await using var client = new BookieClient();

                var acked = new List<long>();
                long next = 0;
                async Task<StatusCode> AddAsync()
                {
                    var result = await client.AddEntryAsync(victim.BookieId, TestEntries.Key, TestEntries.Make(7, next, next - 1, EntrySize));
                    if (result.Status == StatusCode.Success)
                    {
                        acked.Add(next);
                    }

                    next++;
                    return result.Status;
                }

                for (int i = 0; i < 20; i++)
                {
                    Assert.Equal(StatusCode.Success, await AddAsync());
                }

                string ballast = Path.Combine(dir, "ballast");
                long ballastBytes = Fill(ballast);
                output.WriteLine($"ballast {ballastBytes >> 20} MiB");

                // Adds go on until the disk refuses a write; then they fail cleanly, never hang.
                StatusCode status = StatusCode.Success;
                var clock = Stopwatch.StartNew();
                while (status == StatusCode.Success && clock.Elapsed < TimeSpan.FromSeconds(60))
                {
                    status = await AddAsync();
                    if (status == StatusCode.Success && filledBy == "storage")
                    {
                        await Task.Delay(20);
                    }
                }

                Assert.True(status is StatusCode.IoError or StatusCode.BookieReadOnly, $"the full disk must stop adds (last {status}):\n{victim.Output}");
                Assert.Equal(StatusCode.BookieReadOnly, await AddAsync());
                await WaitAsync(() => !registry.WritableBookies.Contains(victim.BookieId), "the bookie announced read-only", victim);
                Assert.Equal(3, registry.WritableBookies.Count);
                var info = await store.GetAsync(BookieKeys.Available(victim.BookieId));
                Assert.NotNull(info);
                Assert.False(BookieRegistrationInfo.IsWritable(info.Value.Span));

                // New ledgers avoid it.
                await using (var ledgers = new LedgerClient(new MetadataLedgerStore(store), registry))
                {
                    await using var ledger = await ledgers.CreateLedgerAsync(3, 3, 2);
                    Assert.DoesNotContain(victim.BookieId, ledger.Metadata.CurrentEnsemble);
                    Assert.Equal(0, await ledger.AddEntryAsync("avoids the full bookie"u8.ToArray()));
                    await ledger.CloseAsync();
                }

                // Every acknowledged entry is still readable while the disk is full.
                await AssertReadableAsync(client, victim.BookieId, acked);

                File.Delete(ballast);
                await WaitAsync(() => registry.WritableBookies.Contains(victim.BookieId), "the bookie announced writable again", victim);
                int before = acked.Count;
                for (int i = 0; i < 20; i++)
                {
                    Assert.Equal(StatusCode.Success, await AddAsync());
                }

                Assert.Equal(before + 20, acked.Count);
                await AssertReadableAsync(client, victim.BookieId, acked);
                Assert.Contains("writable again", victim.Output, StringComparison.Ordinal);
                Assert.Contains(filledBy == "journal" ? "The journal restarted on the fresh file" : "ran out of disk space", victim.Output, StringComparison.Ordinal);
                Assert.DoesNotContain("is now read-only", victim.Output, StringComparison.Ordinal);

                // And the data survives a restart (the fresh journal file is replayed after the failed one).
                Assert.Equal(0, await victim.StopAsync());
                await victim.StartAsync();
                await using var fresh = new BookieClient();
                await AssertReadableAsync(fresh, victim.BookieId, acked);
            }
            finally
            {
                foreach (var other in others)
                {
                    await other.DisposeAsync();
                }
            }
        }
        finally
        {
            await etcd.DisposeAsync();
            await Tmpfs.UnmountAsync(dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task AssertReadableAsync(BookieClient client, string bookieId, IReadOnlyList<long> acked)
    {
        foreach (long e in acked)
        {
            var read = await client.ReadEntryAsync(bookieId, 7, e);
            Assert.True(read.Status == StatusCode.Success, $"entry {e}: {read.Status}");
            Assert.Equal(TestEntries.Make(7, e, e - 1, EntrySize), read.Entry.ToArray());
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string what, BookieProcess bookie)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting until {what}:\n{bookie.Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>Writes zeros to <paramref name="path"/> until the file system refuses; returns the bytes written.</summary>
    private static long Fill(string path)
    {
        var chunk = new byte[1 << 20];
        long written = 0;
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
        try
        {
            while (true)
            {
                file.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            // Full.
        }

        for (int size = chunk.Length / 2; size >= 512; size /= 2)
        {
            try
            {
                file.Write(chunk.AsSpan(0, size));
                written += size;
            }
            catch (IOException)
            {
            }
        }

        return written;
    }
}
