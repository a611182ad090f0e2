using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;

namespace DistributedLog.Tests.Subscriptions;

public sealed class SubscriptionsStoreTests : IAsyncLifetime
{
    private readonly string _dir = TestEntries.TempDirectory("subs");
    private IMetadataStore _store = null!;
    private LogManager _log = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = await MetadataStores.OpenAsync(new Uri(Path.Combine(_dir, "meta.db")).AbsoluteUri);
        // Subscriptions need only metadata: no ledger client is used.
        var ns = DistributedLogNamespace.Create(_store, null!, "subs");
        await ns.CreateLogAsync("events");
        _log = ns.OpenLog("events");
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Positions_only_move_forward()
    {
        var subscriptions = _log.Subscriptions;
        Assert.Null(await subscriptions.GetPositionAsync("reader-a"));
        Assert.True(await subscriptions.AdvanceAsync("reader-a", new Dlsn(1, 5, 0)));
        Assert.False(await subscriptions.AdvanceAsync("reader-a", new Dlsn(1, 4, 9)));
        Assert.False(await subscriptions.AdvanceAsync("reader-a", new Dlsn(1, 5, 0)));
        Assert.True(await subscriptions.AdvanceAsync("reader-a", new Dlsn(2, 0, 0)));
        Assert.True(await subscriptions.AdvanceAsync("reader-b", new Dlsn(1, 0, 0)));
        Assert.Equal(new Dlsn(2, 0, 0), await subscriptions.GetPositionAsync("reader-a"));
        var all = await subscriptions.GetPositionsAsync();
        Assert.Equal(2, all.Count);
        Assert.Equal(new Dlsn(1, 0, 0), all["reader-b"]);
        Assert.True(await subscriptions.DeleteAsync("reader-b"));
        Assert.Null(await subscriptions.GetPositionAsync("reader-b"));
    }

    [Fact]
    public async Task Concurrent_advances_keep_the_highest_position()
    {
        var subscriptions = _log.Subscriptions;
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => subscriptions.AdvanceAsync("racer", new Dlsn(1, i, 0))));
        Assert.Equal(new Dlsn(1, 19, 0), await subscriptions.GetPositionAsync("racer"));
    }

    [Fact]
    public async Task Two_readers_with_one_subscriber_id_do_not_both_hold_the_read_lock()
    {
        var subscriptions = _log.Subscriptions;
        var held = await subscriptions.AcquireReadLockAsync("shared", TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<LockingException>(() => subscriptions.AcquireReadLockAsync("shared", TimeSpan.FromSeconds(10)));
        await using (await subscriptions.AcquireReadLockAsync("other", TimeSpan.FromSeconds(10)))
        {
        }

        await held.DisposeAsync();
        await using var again = await subscriptions.AcquireReadLockAsync("shared", TimeSpan.FromSeconds(10));
    }
}
