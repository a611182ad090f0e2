using System.Text;
using DistributedLog.Testing;

namespace DistributedLog.Metadata.Tests;

/// <summary>
/// etcd frozen with SIGSTOP (sockets open, no answers): every failure is a typed, retryable
/// <see cref="MetadataStoreUnavailableException"/> — never an <see cref="OperationCanceledException"/> the caller did not
/// ask for, never a non-retryable <c>Internal</c> error — and the store, its watches and new leases work after SIGCONT.
/// </summary>
public sealed class EtcdStallTests : IAsyncLifetime
{
    private readonly EtcdServer _etcd = new();

    public Task InitializeAsync() => _etcd.StartAsync();

    public Task DisposeAsync() => _etcd.DisposeAsync();

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private static async Task<T> SetUpAsync<T>(Func<Task<T>> step)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await step();
            }
            catch (MetadataStoreUnavailableException) when (attempt < 10)
            {
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task A_frozen_etcd_gives_retryable_errors_and_everything_resumes_after_it_thaws()
    {
        var options = new MetadataStoreOptions { OperationTimeout = TimeSpan.FromSeconds(1), MaxReconnectBackoff = TimeSpan.FromMilliseconds(500) };
        // Set-up before the stall, with the short deadline the test needs: on a loaded machine a first call to a freshly
        // started etcd may take longer than 1 s, which says nothing about stalls, so the set-up is retried.
        string uri = _etcd.NewStoreUri();
        await using IMetadataStore store = await SetUpAsync(() => MetadataStores.OpenAsync(uri, options).AsTask());
        await using IMetadataWatch watch = await SetUpAsync(() => store.WatchAsync("logs/", isPrefix: true).AsTask());
        ILease lease = await SetUpAsync(() => store.GrantLeaseAsync(TimeSpan.FromSeconds(2)).AsTask());

        _etcd.Pause();
        try
        {
            // Reads, writes and lease grants hit the deadline (the channel reports that as a cancellation).
            var read = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.GetAsync("logs/a"));
            Assert.True(read.IsRetryable);
            var write = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.PutAsync("logs/a", B("x")));
            Assert.True(write.OutcomeUnknown);
            await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.GrantLeaseAsync(TimeSpan.FromSeconds(2)));

            // Past the HTTP/2 keep-alive ping delay and timeout (10 + 5 s): the transport gives up on the connection.
            await Task.Delay(TimeSpan.FromSeconds(16));
            Assert.True(lease.Lost.IsCancellationRequested, "the lease must count as lost once its TTL passed without a renewal");
            var late = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.GetAsync("logs/a"));
            Assert.True(late.IsRetryable, late.ToString());
        }
        finally
        {
            _etcd.Resume();
        }

        await lease.DisposeAsync();
        VersionedValue? value = null;
        for (int attempt = 0; attempt < 40 && value is null; attempt++)
        {
            try
            {
                await store.PutAsync("logs/a", B("after the stall"));
                value = await store.GetAsync("logs/a");
            }
            catch (MetadataStoreUnavailableException)
            {
                await Task.Delay(250);
            }
        }

        Assert.NotNull(value);
        await using ILease fresh = await store.GrantLeaseAsync(TimeSpan.FromSeconds(2));
        Assert.False(fresh.Lost.IsCancellationRequested);

        // The watch resumed by itself and delivers the write made after the stall.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (WatchEvent change in watch.WithCancellation(timeout.Token))
        {
            if (change.Key == "logs/a" && Encoding.UTF8.GetString(change.Value.Span) == "after the stall")
            {
                return;
            }
        }

        Assert.Fail("the watch ended without delivering the write made after the stall");
    }
}
