using System.Diagnostics;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Testing;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Tests.Crash;

/// <summary>Bookie processes killed with SIGKILL: fence state and journal checksums across restarts; a real full disk.</summary>
public sealed class BookieRestartTests
{
    [Fact]
    public async Task Fence_survives_sigkill()
    {
        await using var bookie = new BookieProcess(TestEntries.TempDirectory("fence-kill"), "--flush-interval-seconds", "3600", "--journal-file-mb", "4");
        await bookie.StartAsync();
        await using (var client = new BookieClient())
        {
            for (long e = 0; e < 5; e++)
            {
                Assert.Equal(StatusCode.Success, (await client.AddEntryAsync(bookie.BookieId, TestEntries.Key, TestEntries.Make(1, e, e - 1))).Status);
            }

            Assert.Equal(StatusCode.Success, (await client.FenceAsync(bookie.BookieId, 1, TestEntries.Key)).Status);
        }

        await bookie.KillAsync();
        await bookie.StartAsync();
        await using (var client = new BookieClient())
        {
            Assert.Equal(StatusCode.LedgerFenced, (await client.AddEntryAsync(bookie.BookieId, TestEntries.Key, TestEntries.Make(1, 5, 4))).Status);
            Assert.Equal(TestEntries.Make(1, 4, 3), (await client.ReadEntryAsync(bookie.BookieId, 1, 4)).Entry.ToArray());
        }
    }

    [Fact]
    public async Task Corrupt_journal_record_is_cut_on_replay_and_never_returned()
    {
        await using var bookie = new BookieProcess(TestEntries.TempDirectory("journal-corrupt"), "--flush-interval-seconds", "3600", "--journal-file-mb", "4");
        await bookie.StartAsync();
        await using (var client = new BookieClient())
        {
            for (long e = 0; e < 50; e++)
            {
                Assert.Equal(StatusCode.Success, (await client.AddEntryAsync(bookie.BookieId, TestEntries.Key, TestEntries.Make(2, e, e - 1, 1000))).Status);
            }
        }

        await bookie.KillAsync();
        byte[] victim = TestEntries.Make(2, 30, 29, 1000);
        bool corrupted = false;
        foreach (string file in Directory.GetFiles(Path.Combine(bookie.DataDirectory, "journal"), "*.jnl"))
        {
            byte[] bytes = await File.ReadAllBytesAsync(file);
            int at = bytes.AsSpan().IndexOf(victim);
            if (at >= 0)
            {
                bytes[at + PackagedEntry.HeaderSize + 500] ^= 0x10;
                await File.WriteAllBytesAsync(file, bytes);
                corrupted = true;
            }
        }

        Assert.True(corrupted, "entry 30 was not found in the journal");
        await bookie.StartAsync();
        await using (var client = new BookieClient())
        {
            for (long e = 0; e < 30; e++)
            {
                Assert.Equal(TestEntries.Make(2, e, e - 1, 1000), (await client.ReadEntryAsync(bookie.BookieId, 2, e)).Entry.ToArray());
            }

            for (long e = 30; e < 50; e++)
            {
                var read = await client.ReadEntryAsync(bookie.BookieId, 2, e);
                Assert.Equal(StatusCode.NoSuchEntry, read.Status);
            }
        }

        Assert.Contains("torn tail", bookie.Output, StringComparison.Ordinal);
    }

    [RootFact("it fills a tmpfs it mounts (the injected-fault tests cover the same path without root)")]
    public async Task Full_journal_disk_turns_the_bookie_read_only_without_losing_data()
    {
        string dir = TestEntries.TempDirectory("disk-full");
        string journal = Path.Combine(dir, "journal");
        Directory.CreateDirectory(journal);
        // Run as root (the attribute skips it otherwise), so the mount must work: a failure here is a failure of the test.
        Assert.True(await Tmpfs.MountAsync(journal, "7m"), $"mounting a tmpfs on {journal} failed although running as root");

        try
        {
            await using var host = await BookieHost.StartAsync(new BookieHostOptions
            {
                DataDirectory = dir,
                Port = 0,
                MinFreeDiskBytes = 0,
                JournalFileSize = 3 << 20,
                FlushInterval = TimeSpan.FromHours(1),
            });
            await using var client = new BookieClient();
            var acked = new List<long>();
            StatusCode last = StatusCode.Success;
            for (long e = 0; e < 200 && last == StatusCode.Success; e++)
            {
                last = (await client.AddEntryAsync(host.BookieId, TestEntries.Key, TestEntries.Make(3, e, e - 1, 64 << 10))).Status;
                if (last == StatusCode.Success)
                {
                    acked.Add(e);
                }
            }

            Assert.True(last is StatusCode.IoError or StatusCode.BookieReadOnly, $"expected the full disk to stop adds, last status {last}");
            Assert.Equal(BookieState.ReadOnly, host.Bookie.State);
            Assert.NotEmpty(acked);
            Assert.Equal(StatusCode.BookieReadOnly, (await client.AddEntryAsync(host.BookieId, TestEntries.Key, TestEntries.Make(3, 999, 0))).Status);
            foreach (long e in acked)
            {
                Assert.Equal(TestEntries.Make(3, e, e - 1, 64 << 10), (await client.ReadEntryAsync(host.BookieId, 3, e)).Entry.ToArray());
            }
        }
        finally
        {
            await Tmpfs.UnmountAsync(journal);
            Directory.Delete(dir, recursive: true);
        }
    }

}
