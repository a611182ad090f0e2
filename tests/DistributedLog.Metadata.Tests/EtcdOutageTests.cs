using DistributedLog.Testing;
using System.Diagnostics;
using System.Text;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata.Tests;

/// <summary>etcd killed (SIGKILL) and restarted on the same data: clear retryable errors meanwhile, then recovery.</summary>
public sealed class EtcdOutageTests : IClassFixture<EtcdServer>
{
    private readonly EtcdServer _etcd;

    public EtcdOutageTests(EtcdServer etcd) => _etcd = etcd;

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Operations_fail_with_a_typed_retryable_error_while_etcd_is_down_and_succeed_when_it_returns()
    {
        var options = new MetadataStoreOptions { OperationTimeout = TimeSpan.FromSeconds(2), MaxReconnectBackoff = TimeSpan.FromMilliseconds(500) };
        await using IMetadataStore store = await MetadataStores.OpenAsync(_etcd.NewStoreUri(), options);
        long written = await store.PutAsync("ledgers/1", B("before the outage"));
        await using IMetadataWatch watch = await store.WatchAsync("logs/", isPrefix: true);
        await using ILease lease = await store.GrantLeaseAsync(TimeSpan.FromSeconds(2));
        var leaseLost = new TaskCompletionSource();
        using CancellationTokenRegistration registration = lease.Lost.Register(() => leaseLost.TrySetResult());

        _etcd.Kill();
        try
        {
            var clock = Stopwatch.StartNew();
            MetadataStoreUnavailableException read = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(
                async () => await store.GetAsync("ledgers/1"));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the read failed after {clock.Elapsed}");
            Assert.Equal(StatusCode.MetadataStoreError, read.Code);
            Assert.True(read.IsRetryable);
            Assert.False(read.OutcomeUnknown);
            Assert.Contains(_etcd.Endpoint, read.Message, StringComparison.Ordinal);
            Assert.Contains("get 'ledgers/1'", read.Message, StringComparison.Ordinal);

            clock.Restart();
            MetadataStoreUnavailableException write = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(
                async () => await store.CommitAsync(new MetadataTransaction().IfVersion("ledgers/1", written).Put("ledgers/1", B("during"))));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the write failed after {clock.Elapsed}");
            Assert.True(write.OutcomeUnknown);
            Assert.Contains("may or may not have been applied", write.Message, StringComparison.Ordinal);

            await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.WatchAsync("other/", isPrefix: true));
            await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.GrantLeaseAsync(TimeSpan.FromSeconds(2)));

            // A lease that cannot be renewed within its TTL is reported lost.
            await leaseLost.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            await _etcd.StartAsync();
        }

        // The same store instance recovers by itself; the data written before the kill is still there.
        VersionedValue? after = null;
        var recovery = Stopwatch.StartNew();
        while (after is null)
        {
            try
            {
                after = await store.GetAsync("ledgers/1");
                Assert.NotNull(after);
            }
            catch (MetadataStoreUnavailableException) when (recovery.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
            }
        }
        Assert.Equal("before the outage", Encoding.UTF8.GetString(after.Value.Span));
        Assert.Equal(written, after.Version);

        // The watch established before the outage resumed and delivers changes made after it.
        long put = await store.PutAsync("logs/a", B("after the outage"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (WatchEvent change in watch.WithCancellation(timeout.Token))
        {
            Assert.Equal("logs/a", change.Key);
            Assert.Equal(put, change.Version);
            break;
        }
    }
}
