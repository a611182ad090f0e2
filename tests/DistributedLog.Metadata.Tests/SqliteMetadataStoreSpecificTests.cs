using System.Text;
using DistributedLog.Metadata.Sqlite;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Time.Testing;

namespace DistributedLog.Metadata.Tests;

/// <summary>What only the embedded store has: the file lock, file errors, and lease expiry on an injected clock.</summary>
public sealed class SqliteMetadataStoreSpecificTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "dl-meta-" + Guid.NewGuid().ToString("N"));

    private string DatabasePath => Path.Combine(_directory, "meta.db");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_second_instance_on_the_same_file_is_refused_with_a_clear_error()
    {
        await using SqliteMetadataStore first = SqliteMetadataStore.Open(DatabasePath);
        MetadataStoreException error = Assert.Throws<MetadataStoreException>(() => SqliteMetadataStore.Open(DatabasePath));
        Assert.Equal(StatusCode.MetadataStoreError, error.Code);
        Assert.Contains(DatabasePath, error.Message, StringComparison.Ordinal);
        Assert.Contains("already open", error.Message, StringComparison.Ordinal);
        await first.DisposeAsync();
        await using SqliteMetadataStore again = SqliteMetadataStore.Open(DatabasePath);
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_refused_with_a_clear_error()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(DatabasePath, new string('x', 4096));
        MetadataStoreException error = Assert.Throws<MetadataStoreException>(() => SqliteMetadataStore.Open(DatabasePath));
        Assert.Equal(StatusCode.MetadataException, error.Code);
        Assert.False(error.IsRetryable);
        Assert.Contains("not a SQLite metadata store", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leases_are_renewed_on_the_injected_clock_and_expire_when_renewal_stops()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using SqliteMetadataStore store = SqliteMetadataStore.Open(DatabasePath, new MetadataStoreOptions
        {
            TimeProvider = time,
            LeaseSweepInterval = TimeSpan.FromHours(1), // sweeps are driven by hand below
        });
        ILease lease = await store.GrantLeaseAsync(TimeSpan.FromSeconds(3));
        await store.PutAsync("k", B("v"), lease.Id);
        for (int i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the renewal timer fires every second
            await store.SweepExpiredLeasesAsync(CancellationToken.None);
        }
        Assert.NotNull(await store.GetAsync("k"));
        Assert.False(lease.Lost.IsCancellationRequested);

        await lease.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        await store.SweepExpiredLeasesAsync(CancellationToken.None);
        Assert.NotNull(await store.GetAsync("k"));
        time.Advance(TimeSpan.FromSeconds(1.5));
        await store.SweepExpiredLeasesAsync(CancellationToken.None);
        Assert.Null(await store.GetAsync("k"));
    }

    [Fact]
    public async Task Leases_left_by_a_previous_process_expire_one_ttl_after_reopening()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var options = new MetadataStoreOptions { TimeProvider = time, LeaseSweepInterval = TimeSpan.FromHours(1) };
        long leaseId;
        await using (SqliteMetadataStore before = SqliteMetadataStore.Open(DatabasePath, options))
        {
            ILease lease = await before.GrantLeaseAsync(TimeSpan.FromSeconds(5));
            leaseId = lease.Id;
            await before.PutAsync("bookies/b1", B("up"), lease.Id);
            await before.PutAsync("plain", B("stays"));
        }

        time.Advance(TimeSpan.FromMinutes(10)); // down for longer than the TTL: the clock starts again at reopening
        await using SqliteMetadataStore after = SqliteMetadataStore.Open(DatabasePath, options);
        Assert.Equal(leaseId, (await after.GetAsync("bookies/b1"))!.LeaseId);
        time.Advance(TimeSpan.FromSeconds(4));
        await after.SweepExpiredLeasesAsync(CancellationToken.None);
        Assert.NotNull(await after.GetAsync("bookies/b1"));
        time.Advance(TimeSpan.FromSeconds(1.5));
        await after.SweepExpiredLeasesAsync(CancellationToken.None);
        Assert.Null(await after.GetAsync("bookies/b1"));
        Assert.NotNull(await after.GetAsync("plain"));
        await Assert.ThrowsAsync<LeaseNotFoundException>(async () => await after.PutAsync("bookies/b1", B("up"), leaseId));

        ILease fresh = await after.GrantLeaseAsync(TimeSpan.FromSeconds(5));
        Assert.NotEqual(leaseId, fresh.Id);
    }

    [Fact]
    public async Task Lost_fires_when_the_sweeper_expires_a_lease_whose_owner_is_late()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using SqliteMetadataStore store = SqliteMetadataStore.Open(DatabasePath, new MetadataStoreOptions
        {
            TimeProvider = time,
            LeaseSweepInterval = TimeSpan.FromHours(1),
        });
        ILease lease = await store.GrantLeaseAsync(TimeSpan.FromSeconds(3));
        // Jump past the TTL in one step, as a long pause would: the sweeper runs before the renewal gets a chance.
        time.AdjustTime(time.GetUtcNow() + TimeSpan.FromSeconds(10));
        await store.SweepExpiredLeasesAsync(CancellationToken.None);
        await WaitForAsync(lease.Lost);
    }

    [Fact]
    public async Task A_watch_whose_consumer_falls_too_far_behind_is_lost_without_blocking_writers()
    {
        await using SqliteMetadataStore store = SqliteMetadataStore.Open(DatabasePath, new MetadataStoreOptions { WatchBufferCapacity = 4 });
        await using IMetadataWatch watch = await store.WatchAsync("", isPrefix: true);
        for (int i = 0; i < 10; i++)
            await store.PutAsync($"k{i}", B("v"));
        var seen = new List<string>();
        MetadataWatchLostException error = await Assert.ThrowsAsync<MetadataWatchLostException>(async () =>
        {
            await foreach (WatchEvent change in watch)
                seen.Add(change.Key);
        });
        Assert.Equal(["k0", "k1", "k2", "k3"], seen);
        Assert.True(error.IsRetryable);
        Assert.Contains("list the keys again", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_uri_opens_the_embedded_store_and_creates_its_directory()
    {
        string path = Path.Combine(_directory, "a", "b", "meta.db");
        await using IMetadataStore store = await MetadataStores.OpenAsync("file://" + path);
        Assert.IsType<SqliteMetadataStore>(store);
        Assert.True(File.Exists(path));
        Assert.Equal("file://" + path, store.Location);
    }

    private static async Task WaitForAsync(CancellationToken token)
    {
        var fired = new TaskCompletionSource();
        using CancellationTokenRegistration registration = token.Register(() => fired.TrySetResult());
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
