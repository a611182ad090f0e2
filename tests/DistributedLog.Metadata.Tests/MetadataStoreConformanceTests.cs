using System.Diagnostics;
using System.Text;

namespace DistributedLog.Metadata.Tests;

/// <summary>
/// The behaviour every <see cref="IMetadataStore"/> backend must have. Each backend runs all of it through a subclass
/// that says how to open (and reopen) a store on fresh, private data.
/// </summary>
public abstract class MetadataStoreConformanceTests : IAsyncLifetime
{
    /// <summary>The TTL used by lease tests: the smallest that etcd grants with default settings.</summary>
    protected static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(10);

    protected IMetadataStore Store { get; private set; } = null!;

    /// <summary>Opens a store on this test's data; each call opens a new instance on the same data.</summary>
    protected abstract Task<IMetadataStore> OpenAsync();

    public virtual async Task InitializeAsync() => Store = await OpenAsync();

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    protected static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    protected static string S(ReadOnlyMemory<byte> value) => Encoding.UTF8.GetString(value.Span);

    private static string[] Keys(MetadataListing listing) => listing.Select(v => v.Key).ToArray();

    // ---- get / put / delete / versions ----

    [Fact]
    public async Task Get_of_a_missing_key_returns_null()
    {
        Assert.Null(await Store.GetAsync("missing"));
    }

    [Fact]
    public async Task Put_get_delete_and_versions_follow_etcd()
    {
        long v1 = await Store.PutAsync("k", B("one"));
        Assert.True(v1 > 0);
        VersionedValue? read = await Store.GetAsync("k");
        Assert.NotNull(read);
        Assert.Equal("k", read.Key);
        Assert.Equal("one", S(read.Value));
        Assert.Equal(v1, read.Version);
        Assert.Equal(v1, read.CreateVersion);
        Assert.Equal(0, read.LeaseId);

        long v2 = await Store.PutAsync("k", B("two"));
        Assert.True(v2 > v1);
        read = await Store.GetAsync("k");
        Assert.Equal("two", S(read!.Value));
        Assert.Equal(v2, read.Version);
        Assert.Equal(v1, read.CreateVersion);

        Assert.True(await Store.DeleteAsync("k"));
        Assert.Null(await Store.GetAsync("k"));
        Assert.False(await Store.DeleteAsync("k"));

        long v3 = await Store.PutAsync("k", B("three"));
        read = await Store.GetAsync("k");
        Assert.True(v3 > v2);
        Assert.Equal(v3, read!.CreateVersion);
    }

    [Fact]
    public async Task Versions_come_from_one_store_wide_revision()
    {
        long a = await Store.PutAsync("a", B("1"));
        long b = await Store.PutAsync("b", B("1"));
        Assert.True(b > a);
        Assert.Equal(a, (await Store.GetAsync("a"))!.Version);
        MetadataListing listing = await Store.ListAsync("");
        Assert.True(listing.Revision >= b);
    }

    [Fact]
    public async Task Empty_and_binary_values_round_trip()
    {
        await Store.PutAsync("empty", ReadOnlyMemory<byte>.Empty);
        byte[] binary = [0, 1, 2, 255, 0, 128];
        await Store.PutAsync("binary", binary);
        Assert.Equal(0, (await Store.GetAsync("empty"))!.Value.Length);
        Assert.Equal(binary, (await Store.GetAsync("binary"))!.Value.ToArray());
    }

    [Fact]
    public async Task Cancelled_token_cancels_operations()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Store.GetAsync("k", cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Store.PutAsync("k", B("v"), 0, cancelled.Token));
        Assert.Null(await Store.GetAsync("k"));
    }

    // ---- listing ----

    [Fact]
    public async Task List_by_prefix_is_sorted_and_matches_bytes_exactly()
    {
        string[] keys = ["b", "a/y", "ab", "a/x/1", "a", "a0", "a/", "a.b", "a/x"];
        foreach (string key in keys)
            await Store.PutAsync(key, B("v-" + key));

        MetadataListing underA = await Store.ListAsync("a/");
        Assert.Equal(["a/", "a/x", "a/x/1", "a/y"], Keys(underA));
        Assert.Equal("v-a/x", S(underA[1].Value));
        Assert.True(underA[1].Version > 0);

        Assert.Equal(["a", "a.b", "a/", "a/x", "a/x/1", "a/y", "a0", "ab"], Keys(await Store.ListAsync("a")));
        Assert.Equal(["a/x", "a/x/1"], Keys(await Store.ListAsync("a/x")));
        Assert.Empty(await Store.ListAsync("zz"));
        Assert.Equal(keys.Order(StringComparer.Ordinal).ToArray(), Keys(await Store.ListAsync("")));
    }

    [Fact]
    public async Task List_range_is_half_open_and_honours_the_limit()
    {
        for (int i = 1; i <= 5; i++)
            await Store.PutAsync($"k{i}", B(i.ToString()));
        Assert.Equal(["k2", "k3"], Keys(await Store.ListRangeAsync("k2", "k4")));
        Assert.Equal(["k2", "k3", "k4", "k5"], Keys(await Store.ListRangeAsync("k2", null)));
        Assert.Equal(["k1", "k2"], Keys(await Store.ListRangeAsync("", null, limit: 2)));
        Assert.Equal(["k3", "k4"], Keys(await Store.ListRangeAsync("k3", "k9", limit: 2)));
        Assert.Empty(await Store.ListRangeAsync("k4", "k2"));
    }

    [Fact]
    public async Task Listing_many_keys_returns_all_of_them_in_order()
    {
        // More keys than the etcd tests' page size: paging must stitch pages together without gaps or repeats.
        var transaction = new MetadataTransaction();
        for (int i = 0; i < 40; i++)
            transaction.Put($"many/{i:D3}", B(i.ToString()));
        await Store.CommitAsync(transaction);
        MetadataListing all = await Store.ListAsync("many/");
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"many/{i:D3}").ToArray(), Keys(all));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"many/{i:D3}").ToArray(), Keys(await Store.ListRangeAsync("many/", "many0", limit: 25)));
    }

    [Fact]
    public async Task Delete_prefix_deletes_only_keys_under_the_prefix()
    {
        foreach (string key in new[] { "p/", "p/a", "p/b/c", "pa", "p" })
            await Store.PutAsync(key, B("v"));
        Assert.Equal(3, await Store.DeletePrefixAsync("p/"));
        Assert.Equal(["p", "pa"], Keys(await Store.ListAsync("")));
        Assert.Equal(0, await Store.DeletePrefixAsync("p/"));
    }

    // ---- transactions ----

    [Fact]
    public async Task Compare_and_set_succeeds_on_the_current_version_and_fails_on_a_stale_one()
    {
        long v1 = await Store.PutAsync("ledger", B("open"));
        TransactionResult first = await Store.CommitAsync(new MetadataTransaction().IfVersion("ledger", v1).Put("ledger", B("closed")));
        Assert.True(first.Succeeded);
        VersionedValue? read = await Store.GetAsync("ledger");
        Assert.Equal("closed", S(read!.Value));
        Assert.Equal(first.Revision, read.Version);

        TransactionResult stale = await Store.CommitAsync(new MetadataTransaction().IfVersion("ledger", v1).Put("ledger", B("stale")));
        Assert.False(stale.Succeeded);
        Assert.True(stale.Revision >= first.Revision);
        read = await Store.GetAsync("ledger");
        Assert.Equal("closed", S(read!.Value));
        Assert.Equal(first.Revision, read.Version);

        Assert.False((await Store.CommitAsync(new MetadataTransaction().IfVersion("nothing-here", v1).Put("nothing-here", B("x")))).Succeeded);
        Assert.Null(await Store.GetAsync("nothing-here"));
    }

    [Fact]
    public async Task Absent_and_exists_conditions()
    {
        Assert.True((await Store.CommitAsync(new MetadataTransaction().IfAbsent("log").Put("log", B("created")))).Succeeded);
        Assert.False((await Store.CommitAsync(new MetadataTransaction().IfAbsent("log").Put("log", B("again")))).Succeeded);
        Assert.Equal("created", S((await Store.GetAsync("log"))!.Value));

        Assert.True((await Store.CommitAsync(new MetadataTransaction().IfExists("log").Put("log/segments/1", B("s")))).Succeeded);
        Assert.False((await Store.CommitAsync(new MetadataTransaction().IfExists("other").Put("other/segments/1", B("s")))).Succeeded);
        Assert.Null(await Store.GetAsync("other/segments/1"));
    }

    [Fact]
    public async Task A_failed_transaction_applies_nothing()
    {
        long a = await Store.PutAsync("a", B("a0"));
        await Store.PutAsync("b", B("b0"));
        await Store.PutAsync("d", B("d0"));
        var transaction = new MetadataTransaction()
            .IfVersion("a", a)
            .IfAbsent("b") // fails
            .Put("a", B("a1"))
            .Put("c", B("c1"))
            .Delete("d");
        TransactionResult result = await Store.CommitAsync(transaction);
        Assert.False(result.Succeeded);
        Assert.Equal(a, (await Store.GetAsync("a"))!.Version);
        Assert.Equal("a0", S((await Store.GetAsync("a"))!.Value));
        Assert.Null(await Store.GetAsync("c"));
        Assert.NotNull(await Store.GetAsync("d"));
    }

    [Fact]
    public async Task A_transaction_applies_every_operation_under_one_version()
    {
        long a = await Store.PutAsync("a", B("a0"));
        await Store.PutAsync("gone", B("x"));
        await Store.PutAsync("old/1", B("x"));
        await Store.PutAsync("old/2", B("x"));
        var transaction = new MetadataTransaction()
            .IfVersion("a", a)
            .IfAbsent("b")
            .Put("a", B("a1"))
            .Put("b", B("b1"))
            .Delete("gone")
            .DeletePrefix("old/");
        TransactionResult result = await Store.CommitAsync(transaction);
        Assert.True(result.Succeeded);
        Assert.Equal(result.Revision, (await Store.GetAsync("a"))!.Version);
        Assert.Equal(result.Revision, (await Store.GetAsync("b"))!.Version);
        Assert.Null(await Store.GetAsync("gone"));
        Assert.Empty(await Store.ListAsync("old/"));
    }

    [Fact]
    public async Task Concurrent_create_if_absent_has_exactly_one_winner()
    {
        const int creators = 12;
        using var start = new ManualResetEventSlim();
        Task<TransactionResult>[] attempts = Enumerable.Range(0, creators).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await Store.CommitAsync(new MetadataTransaction().IfAbsent("owner").Put("owner", B($"creator-{i}")));
        })).ToArray();
        start.Set();
        TransactionResult[] results = await Task.WhenAll(attempts);
        Assert.Single(results, r => r.Succeeded);
        int winner = Array.FindIndex(results, r => r.Succeeded);
        VersionedValue? owner = await Store.GetAsync("owner");
        Assert.Equal($"creator-{winner}", S(owner!.Value));
        Assert.Equal(results[winner].Revision, owner.Version);
    }

    [Fact]
    public async Task Transactions_that_write_a_key_twice_are_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await Store.CommitAsync(new MetadataTransaction().Put("k", B("1")).Put("k", B("2"))));
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await Store.CommitAsync(new MetadataTransaction().DeletePrefix("p/").Put("p/k", B("1"))));
        Assert.Null(await Store.GetAsync("k"));
    }

    [Fact]
    public async Task Id_generator_hands_out_unique_increasing_ids_to_concurrent_callers()
    {
        var generator = new MetadataIdGenerator(Store);
        Task<List<long>>[] callers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var ids = new List<long>();
            for (int i = 0; i < 8; i++)
                ids.Add(await generator.NextAsync("counters/ledgers"));
            return ids;
        })).ToArray();
        List<long>[] perCaller = await Task.WhenAll(callers);
        foreach (List<long> ids in perCaller)
            Assert.Equal(ids.Order().ToList(), ids);
        Assert.Equal(Enumerable.Range(1, 32).Select(i => (long)i).ToArray(), perCaller.SelectMany(x => x).Order().ToArray());
        Assert.Equal(33, await generator.NextAsync("counters/ledgers"));
        Assert.Equal(1, await generator.NextAsync("counters/other"));
    }

    // ---- leases ----

    [Fact]
    public async Task Lease_keys_live_while_renewed_vanish_when_renewal_stops_and_at_once_when_revoked()
    {
        var sinceGrant = Stopwatch.StartNew();
        ILease kept = await Store.GrantLeaseAsync(LeaseTtl);
        ILease dropped = await Store.GrantLeaseAsync(LeaseTtl);
        Assert.True(kept.Ttl >= LeaseTtl);
        await Store.PutAsync("bookies/kept", B("k"), kept.Id);
        await Store.CommitAsync(new MetadataTransaction().Put("bookies/dropped", B("d"), dropped.Id));
        Assert.Equal(kept.Id, (await Store.GetAsync("bookies/kept"))!.LeaseId);
        Assert.Equal(dropped.Id, (await Store.GetAsync("bookies/dropped"))!.LeaseId);

        // Stop renewing one lease, as a crashed owner would: its key vanishes once the TTL passes.
        var clock = Stopwatch.StartNew();
        await dropped.DisposeAsync();
        Assert.True(dropped.Lost.IsCancellationRequested);
        await WaitUntilAsync(async () => await Store.GetAsync("bookies/dropped") is null, dropped.Ttl + TimeSpan.FromSeconds(8));
        Assert.True(clock.Elapsed >= dropped.Ttl - TimeSpan.FromMilliseconds(500), $"expired after {clock.Elapsed}, TTL {dropped.Ttl}");

        // The renewed lease outlives its TTL. (The dropped key may vanish a little before a TTL has passed on this clock:
        // its lease was granted before the clock started. So wait out the kept lease's TTL from its grant.)
        TimeSpan outlived = kept.Ttl + TimeSpan.FromMilliseconds(500);
        if (sinceGrant.Elapsed < outlived)
            await Task.Delay(outlived - sinceGrant.Elapsed);
        Assert.NotNull(await Store.GetAsync("bookies/kept"));
        Assert.False(kept.Lost.IsCancellationRequested);

        await kept.RevokeAsync();
        Assert.Null(await Store.GetAsync("bookies/kept"));
        Assert.True(kept.Lost.IsCancellationRequested);
    }

    [Fact]
    public async Task Lost_fires_when_the_lease_is_revoked_elsewhere_and_the_lease_cannot_be_used_again()
    {
        await using ILease lease = await Store.GrantLeaseAsync(LeaseTtl);
        await Store.PutAsync("owners/log", B("me"), lease.Id);
        var lost = new TaskCompletionSource();
        using CancellationTokenRegistration registration = lease.Lost.Register(() => lost.TrySetResult());

        await Store.RevokeLeaseAsync(lease.Id);
        Assert.Null(await Store.GetAsync("owners/log"));
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(10));

        LeaseNotFoundException error = await Assert.ThrowsAsync<LeaseNotFoundException>(async () => await Store.PutAsync("owners/log", B("me"), lease.Id));
        Assert.False(error.IsRetryable);
        await Assert.ThrowsAsync<LeaseNotFoundException>(async () =>
            await Store.CommitAsync(new MetadataTransaction().IfAbsent("owners/log").Put("owners/log", B("me"), lease.Id)));
        Assert.Null(await Store.GetAsync("owners/log"));
        await Store.RevokeLeaseAsync(lease.Id); // revoking again is harmless
    }

    [Fact]
    public async Task Replacing_a_key_without_a_lease_unbinds_it()
    {
        await using ILease lease = await Store.GrantLeaseAsync(LeaseTtl);
        await Store.PutAsync("k", B("bound"), lease.Id);
        await Store.PutAsync("k", B("free"));
        await lease.RevokeAsync();
        VersionedValue? read = await Store.GetAsync("k");
        Assert.Equal("free", S(read!.Value));
        Assert.Equal(0, read.LeaseId);
    }

    // ---- watches ----

    [Fact]
    public async Task Key_watch_delivers_puts_and_deletes_in_order_and_nothing_from_before()
    {
        long before = await Store.PutAsync("w", B("before"));
        await using IMetadataWatch watch = await Store.WatchAsync("w", isPrefix: false);
        Assert.True(watch.StartRevision >= before);

        long v1 = await Store.PutAsync("w", B("one"));
        await Store.PutAsync("w2", B("not watched"));
        await Store.PutAsync("x", B("not watched"));
        await Store.DeleteAsync("w");
        long v2 = await Store.PutAsync("w", B("two"));

        List<WatchEvent> events = await TakeAsync(watch, 3);
        Assert.Equal([WatchEventType.Put, WatchEventType.Delete, WatchEventType.Put], events.Select(e => e.Type));
        Assert.All(events, e => Assert.Equal("w", e.Key));
        Assert.Equal("one", S(events[0].Value));
        Assert.Equal(v1, events[0].Version);
        Assert.True(events[1].Version > v1 && events[1].Version < v2);
        Assert.Equal("two", S(events[2].Value));
        Assert.Equal(v2, events[2].Version);
        Assert.All(events, e => Assert.True(e.Version > watch.StartRevision));
    }

    [Fact]
    public async Task Prefix_watch_delivers_changes_under_the_prefix_in_order()
    {
        await Store.PutAsync("logs/old", B("before the watch"));
        await using IMetadataWatch watch = await Store.WatchAsync("logs/", isPrefix: true);
        await Store.PutAsync("logs/a", B("a"));
        await Store.PutAsync("logsx", B("outside"));
        TransactionResult txn = await Store.CommitAsync(new MetadataTransaction().Put("logs/b", B("b")).Delete("logs/a"));
        await Store.DeletePrefixAsync("logs/");

        List<WatchEvent> events = await TakeAsync(watch, 5);
        Assert.Equal(
            ["Put logs/a", "Put logs/b", "Delete logs/a", "Delete logs/b", "Delete logs/old"],
            events.Select(e => $"{e.Type} {e.Key}"));
        Assert.Equal(txn.Revision, events[1].Version);
        Assert.Equal(txn.Revision, events[2].Version);
        Assert.Equal(events[3].Version, events[4].Version);
        Assert.True(events[3].Version > txn.Revision);
    }

    [Fact]
    public async Task Watch_reports_keys_deleted_with_their_lease()
    {
        ILease lease = await Store.GrantLeaseAsync(LeaseTtl);
        await using IMetadataWatch watch = await Store.WatchAsync("bookies/", isPrefix: true);
        await Store.PutAsync("bookies/b1", B("up"), lease.Id);
        await lease.RevokeAsync();
        List<WatchEvent> events = await TakeAsync(watch, 2);
        Assert.Equal(["Put bookies/b1", "Delete bookies/b1"], events.Select(e => $"{e.Type} {e.Key}"));
    }

    [Fact]
    public async Task Watch_then_list_sees_every_key_once_without_gaps()
    {
        await Store.PutAsync("s/1", B("1"));
        await using IMetadataWatch watch = await Store.WatchAsync("s/", isPrefix: true);
        await Store.PutAsync("s/2", B("2"));
        MetadataListing listing = await Store.ListAsync("s/");
        await Store.PutAsync("s/3", B("3"));

        var seen = listing.ToDictionary(v => v.Key, v => v.Version);
        await foreach (WatchEvent change in watch.WithCancellation(new CancellationTokenSource(EventTimeout).Token))
        {
            if (change.Version <= listing.Revision)
                continue; // already in the listing
            seen[change.Key] = change.Version;
            if (change.Key == "s/3")
                break;
        }
        Assert.Equal(["s/1", "s/2", "s/3"], seen.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Disposing_a_watch_ends_its_enumeration()
    {
        IMetadataWatch watch = await Store.WatchAsync("d", isPrefix: false);
        var first = new TaskCompletionSource();
        Task<int> reader = Task.Run(async () =>
        {
            int count = 0;
            await foreach (WatchEvent change in watch)
            {
                count++;
                first.TrySetResult();
            }
            return count;
        });
        await Store.PutAsync("d", B("1"));
        await first.Task.WaitAsync(EventTimeout);
        await watch.DisposeAsync();
        Assert.Equal(1, await reader.WaitAsync(EventTimeout));
    }

    [Fact]
    public async Task Closing_the_store_ends_watches_with_a_lost_error()
    {
        IMetadataWatch watch = await Store.WatchAsync("c/", isPrefix: true);
        await Store.DisposeAsync();
        await Assert.ThrowsAsync<MetadataWatchLostException>(async () => await TakeAsync(watch, 1));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await Store.GetAsync("c/x"));
        Store = await OpenAsync();
    }

    // ---- durability ----

    [Fact]
    public async Task Data_and_versions_survive_reopening()
    {
        long a = await Store.PutAsync("durable/a", B("A"));
        TransactionResult b = await Store.CommitAsync(new MetadataTransaction().IfAbsent("durable/b").Put("durable/b", B("B")));
        await Store.DeleteAsync("durable/a");
        long c = await Store.PutAsync("durable/a", B("A2"));
        Assert.True(c > a);

        await Store.DisposeAsync();
        Store = await OpenAsync();

        MetadataListing listing = await Store.ListAsync("durable/");
        Assert.Equal(["durable/a", "durable/b"], Keys(listing));
        Assert.Equal("A2", S(listing[0].Value));
        Assert.Equal(c, listing[0].Version);
        Assert.Equal(c, listing[0].CreateVersion);
        Assert.Equal(b.Revision, listing[1].Version);
        Assert.True(await Store.PutAsync("durable/c", B("C")) > c);
    }

    // ---- helpers ----

    protected static async Task<List<WatchEvent>> TakeAsync(IMetadataWatch watch, int count)
    {
        using var timeout = new CancellationTokenSource(EventTimeout);
        var events = new List<WatchEvent>(count);
        await foreach (WatchEvent change in watch.WithCancellation(timeout.Token))
        {
            events.Add(change);
            if (events.Count == count)
                break;
        }
        Assert.Equal(count, events.Count);
        return events;
    }

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
                Assert.Fail($"Condition not met within {timeout}.");
            await Task.Delay(50);
        }
    }
}
