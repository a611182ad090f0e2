using System.Collections.Concurrent;
using DistributedLog.Metadata.Internal;
using DistributedLog.Protocol.Errors;
using Etcdserverpb;

namespace DistributedLog.Metadata.Etcd;

public sealed partial class EtcdMetadataStore
{
    private readonly ConcurrentDictionary<EtcdLease, byte> _liveLeases = new();

    /// <inheritdoc />
    public async ValueTask<ILease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        long seconds = MetadataKeys.TtlSeconds(ttl);
        long grantedAt = Time.GetTimestamp();
        // Retried like a read: a grant whose answer was lost leaves an orphan lease that simply expires.
        LeaseGrantResponse response = await CallAsync(new LeaseGrantRequest { TTL = seconds },
            static (s, r, o) => s.Leases.LeaseGrantAsync(r, o), "grant a lease", null, idempotent: true, cancellationToken);
        if (!string.IsNullOrEmpty(response.Error))
        {
            throw new MetadataStoreException(StatusCode.MetadataStoreError,
                $"etcd at {EndpointsText} refused to grant a lease of {seconds} s: {response.Error}", isRetryable: false);
        }
        var lease = new EtcdLease(this, response.ID, TimeSpan.FromSeconds(response.TTL), grantedAt);
        _liveLeases.TryAdd(lease, 0);
        if (IsDisposed)
        {
            await lease.DisposeAsync();
            throw new ObjectDisposedException(nameof(EtcdMetadataStore));
        }
        lease.Start();
        return lease;
    }

    /// <inheritdoc />
    public async ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        long id = leaseId;
        try
        {
            await CallAsync(new LeaseRevokeRequest { ID = id }, static (s, r, o) => s.Leases.LeaseRevokeAsync(r, o),
                $"revoke lease {id}", null, idempotent: true, cancellationToken, id);
        }
        catch (LeaseNotFoundException)
        {
        }
    }

    internal void Forget(EtcdLease lease) => _liveLeases.TryRemove(lease, out _);

    private async ValueTask StopLeasesAsync()
    {
        foreach (EtcdLease lease in _liveLeases.Keys)
            await lease.DisposeAsync();
        _liveLeases.Clear();
    }
}
