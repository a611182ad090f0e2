using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Testing;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Tests;

/// <summary>The bookie's semantics over real TCP, with an in-process bookie on real files.</summary>
public sealed class BookieTests : IAsyncLifetime
{
    private readonly string _dir = TestEntries.TempDirectory("bookie");
    private BookieHost _host = null!;
    private BookieClient _client = null!;
    private readonly SwitchableFaults _faults = new();

    private BookieHostOptions Options(long minFree = 0) => new()
    {
        DataDirectory = _dir,
        Port = 0,
        MinFreeDiskBytes = minFree,
        JournalFileSize = 4 << 20,
        WriteCacheSize = 4 << 20,
        FlushInterval = TimeSpan.FromHours(1),
        Faults = _faults,
    };

    public async Task InitializeAsync()
    {
        _host = await BookieHost.StartAsync(Options());
        _client = new BookieClient();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task RestartAsync(long minFree = 0)
    {
        await _host.DisposeAsync();
        _host = await BookieHost.StartAsync(Options(minFree));
        await _client.DisposeAsync();
        _client = new BookieClient();
    }

    private async Task AddAsync(long ledgerId, long from, long to, long lacLag = 1)
    {
        for (long e = from; e <= to; e++)
        {
            var result = await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(ledgerId, e, e - lacLag));
            Assert.Equal(StatusCode.Success, result.Status);
        }
    }

    [Fact]
    public async Task Added_entries_read_back_identical_and_last_entry_is_minus_one()
    {
        await AddAsync(1, 0, 20);
        for (long e = 0; e <= 20; e++)
        {
            var read = await _client.ReadEntryAsync(_host.BookieId, 1, e);
            Assert.Equal(StatusCode.Success, read.Status);
            Assert.Equal(TestEntries.Make(1, e, e - 1), read.Entry.ToArray());
        }

        var last = await _client.ReadEntryAsync(_host.BookieId, 1, -1);
        Assert.Equal(20, last.EntryId);
        Assert.Equal(StatusCode.NoSuchEntry, (await _client.ReadEntryAsync(_host.BookieId, 1, 21)).Status);
        Assert.Equal(StatusCode.NoSuchLedger, (await _client.ReadEntryAsync(_host.BookieId, 999, 0)).Status);
    }

    [Fact]
    public async Task Lac_is_the_highest_piggyback_and_is_restored_after_restart()
    {
        await AddAsync(2, 0, 9);
        var lac = await _client.ReadLacAsync(_host.BookieId, 2);
        Assert.Equal((StatusCode.Success, 8L, 9L), (lac.Status, lac.Lac, lac.LastEntryId));
        await RestartAsync();
        lac = await _client.ReadLacAsync(_host.BookieId, 2);
        Assert.Equal((StatusCode.Success, 8L, 9L), (lac.Status, lac.Lac, lac.LastEntryId));
    }

    [Fact]
    public async Task Wrong_master_key_is_refused()
    {
        await AddAsync(3, 0, 0);
        var result = await _client.AddEntryAsync(_host.BookieId, new byte[] { 6, 6, 6 }, TestEntries.Make(3, 1, 0));
        Assert.Equal(StatusCode.Unauthorized, result.Status);
        var fence = await _client.FenceAsync(_host.BookieId, 3, new byte[] { 6, 6, 6 });
        Assert.Equal(StatusCode.Unauthorized, fence.Status);
    }

    [Fact]
    public async Task Fenced_ledger_refuses_normal_adds_but_takes_recovery_adds_also_after_restart()
    {
        await AddAsync(4, 0, 4);
        var fence = await _client.FenceAsync(_host.BookieId, 4, TestEntries.Key);
        Assert.Equal((StatusCode.Success, 3L, 4L), (fence.Status, fence.Lac, fence.LastEntryId));
        Assert.Equal(StatusCode.LedgerFenced, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(4, 5, 4))).Status);
        Assert.Equal(StatusCode.Success, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(4, 5, 4), recovery: true)).Status);
        await RestartAsync();
        Assert.Equal(StatusCode.LedgerFenced, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(4, 6, 5))).Status);
        Assert.Equal(StatusCode.Success, (await _client.ReadEntryAsync(_host.BookieId, 4, 5)).Status);
    }

    [Fact]
    public async Task Fencing_read_of_an_unknown_ledger_fences_it_for_the_old_writer()
    {
        // The recovering writer reaches this bookie before the old writer's first add: the add must still be refused.
        var read = await _client.ReadEntryAsync(_host.BookieId, 5, -1, fence: true, masterKey: TestEntries.Key);
        Assert.Equal(StatusCode.NoSuchEntry, read.Status);
        Assert.Equal(StatusCode.LedgerFenced, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(5, 0, -1))).Status);
    }

    [Fact]
    public async Task Fencing_read_returns_the_last_entry()
    {
        await AddAsync(6, 0, 7);
        var read = await _client.ReadEntryAsync(_host.BookieId, 6, -1, fence: true, masterKey: TestEntries.Key);
        Assert.Equal(StatusCode.Success, read.Status);
        Assert.Equal(7, read.EntryId);
        Assert.Equal(6, PackagedEntry.LastAddConfirmed(read.Entry.Span));
    }

    [Fact]
    public async Task Long_poll_returns_when_the_lac_reaches_the_entry()
    {
        await AddAsync(7, 0, 2);
        var poll = _client.LongPollReadAsync(_host.BookieId, 7, 3, TimeSpan.FromSeconds(30)).AsTask();
        await Task.Delay(200);
        Assert.False(poll.IsCompleted, "the poll answered before the LAC reached entry 3");
        await AddAsync(7, 3, 3);  // carries LAC 2: not yet
        await Task.Delay(200);
        Assert.False(poll.IsCompleted, "the poll answered before the LAC reached entry 3");
        await AddAsync(7, 4, 4);  // carries LAC 3
        var result = await poll.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.Success, result.Status);
        Assert.Equal(3, result.EntryId);
        Assert.Equal(3, result.Lac);
        Assert.Equal(TestEntries.Make(7, 3, 2), result.Entry.ToArray());
    }

    [Fact]
    public async Task Long_poll_times_out_with_the_current_lac()
    {
        await AddAsync(8, 0, 5);
        var result = await _client.LongPollReadAsync(_host.BookieId, 8, 10, TimeSpan.FromMilliseconds(300));
        Assert.Equal(StatusCode.Timeout, result.Status);
        Assert.Equal(4, result.Lac);
        var immediate = await _client.LongPollReadAsync(_host.BookieId, 8, 2, TimeSpan.FromSeconds(30));
        Assert.Equal(StatusCode.Success, immediate.Status);
        Assert.Equal(TestEntries.Make(8, 2, 1), immediate.Entry.ToArray());
    }

    [Fact]
    public async Task Deleted_ledger_is_gone_also_after_restart()
    {
        await AddAsync(9, 0, 3);
        Assert.Equal(StatusCode.Success, await _client.DeleteLedgerAsync(_host.BookieId, 9));
        Assert.Equal(StatusCode.NoSuchLedger, (await _client.ReadEntryAsync(_host.BookieId, 9, 0)).Status);
        Assert.Equal(StatusCode.NoSuchLedger, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(9, 4, 3))).Status);
        await RestartAsync();
        Assert.Equal(StatusCode.NoSuchLedger, (await _client.ReadEntryAsync(_host.BookieId, 9, 0)).Status);
    }

    [Fact]
    public async Task Corrupt_byte_in_an_entry_log_is_reported_not_returned()
    {
        await AddAsync(10, 0, 9, lacLag: 1);
        await _host.Bookie.CheckpointAsync();
        await _host.DisposeAsync();
        string log = Directory.GetFiles(Path.Combine(_dir, "ledgers", "entrylogs")).Single(f => new FileInfo(f).Length > 0);
        byte[] bytes = await File.ReadAllBytesAsync(log);
        byte[] target = TestEntries.Make(10, 5, 4);
        int at = bytes.AsSpan().IndexOf(target);
        Assert.True(at > 0, "entry 5 not found in the entry log");
        bytes[at + PackagedEntry.HeaderSize + 10] ^= 0x01;
        await File.WriteAllBytesAsync(log, bytes);

        _host = await BookieHost.StartAsync(Options());
        await _client.DisposeAsync();
        _client = new BookieClient();
        Assert.Equal(StatusCode.ChecksumFailed, (await _client.ReadEntryAsync(_host.BookieId, 10, 5)).Status);
        Assert.Equal(StatusCode.Success, (await _client.ReadEntryAsync(_host.BookieId, 10, 4)).Status);
        Assert.Equal(StatusCode.Success, (await _client.ReadEntryAsync(_host.BookieId, 10, 6)).Status);
    }

    [Fact]
    public async Task Journal_io_error_makes_the_bookie_read_only_and_reads_go_on()
    {
        await AddAsync(11, 0, 4);
        _faults.PathFilter = "journal";
        _faults.FailSync = true;
        Assert.Equal(StatusCode.IoError, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(11, 5, 4))).Status);
        Assert.Equal(BookieState.ReadOnly, _host.Bookie.State);
        Assert.Equal(StatusCode.BookieReadOnly, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(11, 6, 4))).Status);
        var ping = await _client.PingAsync(_host.BookieId);
        Assert.Equal((StatusCode.Success, BookieState.ReadOnly), (ping.Status, ping.State));
        for (long e = 0; e <= 4; e++)
        {
            var read = await _client.ReadEntryAsync(_host.BookieId, 11, e);
            Assert.Equal(TestEntries.Make(11, e, e - 1), read.Entry.ToArray());
        }

        _faults.FailSync = false;
    }

    [Fact]
    public async Task Too_little_free_disk_makes_the_bookie_read_only()
    {
        await AddAsync(12, 0, 2);
        await RestartAsync(minFree: long.MaxValue);
        Assert.Equal(BookieState.ReadOnly, _host.Bookie.State);
        Assert.Equal(StatusCode.BookieReadOnly, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(12, 3, 2))).Status);
        Assert.Equal(StatusCode.Success, (await _client.ReadEntryAsync(_host.BookieId, 12, 2)).Status);
        // A recovery add still goes through: recovery must be able to re-replicate onto a read-only bookie.
        Assert.Equal(StatusCode.Success, (await _client.AddEntryAsync(_host.BookieId, TestEntries.Key, TestEntries.Make(12, 3, 2), recovery: true)).Status);
    }

    [Fact]
    public async Task Entries_survive_checkpoints_and_garbage_collection()
    {
        await AddAsync(13, 0, 50);
        await AddAsync(14, 0, 50);
        await _host.Bookie.CheckpointAsync();
        Assert.Equal(StatusCode.Success, await _client.DeleteLedgerAsync(_host.BookieId, 13));
        await _host.Bookie.CollectGarbageAsync();
        await RestartAsync();
        for (long e = 0; e <= 50; e++)
        {
            Assert.Equal(TestEntries.Make(14, e, e - 1), (await _client.ReadEntryAsync(_host.BookieId, 14, e)).Entry.ToArray());
        }

        Assert.Equal(StatusCode.NoSuchLedger, (await _client.ReadEntryAsync(_host.BookieId, 13, 0)).Status);
    }
}
