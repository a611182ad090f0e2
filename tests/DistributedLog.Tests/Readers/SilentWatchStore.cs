using DistributedLog.Metadata;

namespace DistributedLog.Tests.Readers;

/// <summary>A metadata store whose watches never deliver an event (as if every notification were lost); the rest is the real store.</summary>
public sealed class SilentWatchStore(IMetadataStore inner) : IMetadataStore
{
    public string Location => inner.Location;

    public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public ValueTask<MetadataListing> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public ValueTask<MetadataListing> ListRangeAsync(string fromKey, string? toKey, int limit = 0, CancellationToken cancellationToken = default) =>
        inner.ListRangeAsync(fromKey, toKey, limit, cancellationToken);

    public ValueTask<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        inner.PutAsync(key, value, leaseId, cancellationToken);

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

    public ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default) => inner.DeletePrefixAsync(prefix, cancellationToken);

    public ValueTask<TransactionResult> CommitAsync(MetadataTransaction transaction, CancellationToken cancellationToken = default) =>
        inner.CommitAsync(transaction, cancellationToken);

    public ValueTask<ILease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

    public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public ValueTask<IMetadataWatch> WatchAsync(string keyOrPrefix, bool isPrefix, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IMetadataWatch>(new SilentWatch(keyOrPrefix, isPrefix));

    /// <summary>Does not dispose the real store (the fixture owns it).</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class SilentWatch(string keyOrPrefix, bool isPrefix) : IMetadataWatch
    {
        private readonly CancellationTokenSource _disposed = new();

        public string KeyOrPrefix => keyOrPrefix;

        public bool IsPrefix => isPrefix;

        public long StartRevision => 0;

        public async IAsyncEnumerator<WatchEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, linked.Token);
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
            {
            }

            yield break;
        }

        public ValueTask DisposeAsync()
        {
            _disposed.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
