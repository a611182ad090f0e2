using DistributedLog.Metadata;

namespace DistributedLog.Writers;

/// <summary>
/// One ownership lease per namespace client, shared by all of its writers (as DistributedLog shared one ZooKeeper session):
/// thousands of logs cost one lease and one keep-alive, not one each. If the lease is lost, every writer holding a lock
/// under it stops; the next writer opened gets a new lease.
/// </summary>
internal sealed class OwnershipLeases(IMetadataStore store) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> _heldLocks = new(StringComparer.Ordinal);
    private ILease? _lease;

    /// <summary>
    /// Claims a log's lock key for one writer of this client, from before it tries to create the key until it released it
    /// (or gave up). A key bound to this client's lease that no writer of this client claims is an orphan: a release
    /// whose delete failed (the metadata store was unavailable or its disk full), which would otherwise stay locked
    /// for as long as this client keeps its lease alive.
    /// </summary>
    public bool TryClaimLock(string key, object writer) => _heldLocks.TryAdd(key, writer);

    /// <summary>Gives up <paramref name="writer"/>'s claim of <see cref="TryClaimLock"/> (not a later writer's).</summary>
    public void ReleaseLockClaim(string key, object writer) => _heldLocks.TryRemove(KeyValuePair.Create(key, writer));

    /// <summary>The shared lease; a new one when the current one was lost, or was found expired (<paramref name="expired"/>).</summary>
    /// <param name="ttl">The lease's time to live.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="expired">
    /// A lease the store said does not exist any more (it expired while this client could not reach the store, before its
    /// keep-alive noticed): replaced even though it does not look lost yet.
    /// </param>
    public async Task<ILease> GetAsync(TimeSpan ttl, CancellationToken cancellationToken, ILease? expired = null)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_lease is null || _lease.Lost.IsCancellationRequested || ReferenceEquals(_lease, expired))
            {
                if (_lease is not null)
                {
                    await _lease.DisposeAsync();
                }

                _lease = await store.GrantLeaseAsync(ttl, cancellationToken);
            }

            return _lease;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Revokes the lease: every lock taken under it is released at once.</summary>
    public async ValueTask DisposeAsync()
    {
        var lease = Interlocked.Exchange(ref _lease, null);
        if (lease is not null)
        {
            try
            {
                await lease.RevokeAsync();
            }
            catch (Protocol.Errors.DlException)
            {
                // Unreachable store: the lease expires by itself.
            }

            await lease.DisposeAsync();
        }

        _gate.Dispose();
    }
}
