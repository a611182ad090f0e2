using System.Diagnostics;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// Through the file seam: a full disk (<c>ENOSPC</c>) in the journal or ledger storage is recoverable once writes work
/// again; an I/O error (<c>EIO</c> on sync) stays fail-stop. (The real full disk: <see cref="FullDiskTests"/>.)
/// </summary>
public sealed class DiskErrorRecoveryTests : IAsyncLifetime
{
    private readonly string _dir = TestEntries.TempDirectory("disk-error-recovery");
    private readonly SwitchableFaults _faults = new();
    private BookieHost _host = null!;
    private BookieClient _client = null!;

    public async Task InitializeAsync()
    {
        _host = await BookieHost.StartAsync(new BookieHostOptions
        {
            DataDirectory = _dir,
            Port = 0,
            MinFreeDiskBytes = 0,
            JournalFileSize = 4 << 20,
            WriteCacheSize = 4 << 20,
            FlushInterval = TimeSpan.FromHours(1),
            DiskCheckInterval = TimeSpan.FromMilliseconds(100),
            Faults = _faults,
        });
        _client = new BookieClient();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<StatusCode> AddAsync(long ledger, long entry) =>
        _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(ledger, entry, entry - 1)).AsTask().ContinueWith(t => t.Result.Status, TaskScheduler.Default);

    [Theory]
    [InlineData("journal")]
    [InlineData("ledgers")]
    public async Task A_full_disk_makes_the_bookie_read_only_until_writes_work_again(string where)
    {
        var acked = new List<long>();
        for (long e = 0; e < 5; e++)
        {
            Assert.Equal(StatusCode.Success, await AddAsync(21, e));
            acked.Add(e);
        }

        _faults.PathFilter = where;
        _faults.FailWrite = true;
        if (where == "journal")
        {
            Assert.Equal(StatusCode.IoError, await AddAsync(21, 5));
        }
        else
        {
            // Ledger storage writes only at a checkpoint.
            await Assert.ThrowsAsync<IOException>(() => _host.Bookie.CheckpointAsync());
        }

        Assert.Equal(BookieState.ReadOnly, _host.Bookie.State);
        Assert.Contains("disk is full", _host.Bookie.ReadOnlyReason, StringComparison.Ordinal);
        Assert.Equal(StatusCode.BookieReadOnly, await AddAsync(21, 6));
        await Task.Delay(500);
        Assert.Equal(BookieState.ReadOnly, _host.Bookie.State);

        _faults.FailWrite = false;
        var clock = Stopwatch.StartNew();
        while (_host.Bookie.State != BookieState.Writable)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the bookie did not turn writable again");
            await Task.Delay(50);
        }

        for (long e = 7; e < 12; e++)
        {
            Assert.Equal(StatusCode.Success, await AddAsync(21, e));
            acked.Add(e);
        }

        await _host.Bookie.CheckpointAsync();
        foreach (long e in acked)
        {
            Assert.Equal(TestEntries.Make(21, e, e - 1), (await _client.ReadEntryAsync(_host.BookieId, 21, e)).Entry.ToArray());
        }
    }

    [Fact]
    public async Task An_io_error_on_sync_stays_fail_stop()
    {
        Assert.Equal(StatusCode.Success, await AddAsync(22, 0));
        _faults.PathFilter = "journal";
        _faults.FailSync = true;
        Assert.Equal(StatusCode.IoError, await AddAsync(22, 1));
        _faults.FailSync = false;
        // Many disk checks later it is still read-only: after a failed fdatasync nothing about the file can be trusted.
        await Task.Delay(1000);
        Assert.Equal(BookieState.ReadOnly, _host.Bookie.State);
        Assert.Contains("I/O error", _host.Bookie.ReadOnlyReason, StringComparison.Ordinal);
        Assert.Equal(StatusCode.BookieReadOnly, await AddAsync(22, 2));
        Assert.Equal(TestEntries.Make(22, 0, -1), (await _client.ReadEntryAsync(_host.BookieId, 22, 0)).Entry.ToArray());
    }
}
