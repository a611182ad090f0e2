using System.Text;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Naming;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Subscriptions;

/// <summary>
/// The committed read positions of a log's subscribers (DistributedLog's SubscriptionsStore). A position only moves
/// forward: advancing to a DLSN at or before the committed one changes nothing. Each subscriber also has a read lock
/// (lease-bound) so that two readers with the same subscriber id never both hold it.
/// </summary>
public sealed class SubscriptionsStore
{
    private readonly IMetadataStore _store;
    private readonly NamespaceLayout _layout;
    private readonly string _log;

    internal SubscriptionsStore(IMetadataStore store, NamespaceLayout layout, string log)
    {
        _store = store;
        _layout = layout;
        _log = log;
    }

    /// <summary>The subscriber's committed position, or null if it never committed one.</summary>
    public async Task<Dlsn?> GetPositionAsync(string subscriberId, CancellationToken cancellationToken = default)
    {
        var value = await _store.GetAsync(_layout.Subscriber(_log, Validate(subscriberId)), cancellationToken);
        return value is null ? null : Parse(value.Key, value.Value.Span);
    }

    /// <summary>Every subscriber and its committed position.</summary>
    public async Task<IReadOnlyDictionary<string, Dlsn>> GetPositionsAsync(CancellationToken cancellationToken = default)
    {
        string prefix = _layout.Subscribers(_log);
        var listing = await _store.ListAsync(prefix, cancellationToken);
        var positions = new Dictionary<string, Dlsn>(listing.Count, StringComparer.Ordinal);
        foreach (var item in listing)
        {
            positions[LogName.Decode(item.Key[prefix.Length..])] = Parse(item.Key, item.Value.Span);
        }

        return positions;
    }

    /// <summary>Moves the subscriber's position forward to <paramref name="position"/>; returns false if it was already there or beyond.</summary>
    public async Task<bool> AdvanceAsync(string subscriberId, Dlsn position, CancellationToken cancellationToken = default)
    {
        string key = _layout.Subscriber(_log, Validate(subscriberId));
        byte[] value = Encoding.ASCII.GetBytes(position.ToString());
        while (true)
        {
            var current = await _store.GetAsync(key, cancellationToken);
            if (current is not null && Parse(key, current.Value.Span) >= position)
            {
                return false;
            }

            var transaction = current is null
                ? new MetadataTransaction().IfAbsent(key).Put(key, value)
                : new MetadataTransaction().IfVersion(key, current.Version).Put(key, value);
            if ((await _store.CommitAsync(transaction, cancellationToken)).Succeeded)
            {
                return true;
            }
        }
    }

    /// <summary>Forgets a subscriber; returns whether it existed.</summary>
    public async Task<bool> DeleteAsync(string subscriberId, CancellationToken cancellationToken = default) =>
        await _store.DeleteAsync(_layout.Subscriber(_log, Validate(subscriberId)), cancellationToken);

    /// <summary>
    /// Takes the subscriber's read lock for the lifetime of the returned handle (bound to a lease: it is freed if the
    /// holder dies). Fails with <see cref="LockingException"/> while another reader holds it.
    /// </summary>
    public async Task<IAsyncDisposable> AcquireReadLockAsync(string subscriberId, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        string key = _layout.ReadLock(_log, Validate(subscriberId));
        var lease = await _store.GrantLeaseAsync(ttl, cancellationToken);
        var result = await _store.CommitAsync(
            new MetadataTransaction().IfAbsent(key).Put(key, Encoding.UTF8.GetBytes($"{Environment.MachineName}/{Environment.ProcessId}"), lease.Id),
            cancellationToken);
        if (!result.Succeeded)
        {
            await lease.RevokeAsync(CancellationToken.None);
            await lease.DisposeAsync();
            throw new LockingException($"Subscriber '{subscriberId}' of log '{_log}' is being read by another reader.");
        }

        return new ReadLock(lease);
    }

    private static string Validate(string subscriberId) =>
        string.IsNullOrEmpty(subscriberId) || subscriberId.Any(char.IsControl) || subscriberId.Length > 256
            ? throw new ArgumentException($"Subscriber id '{subscriberId}' must be 1..256 characters without control characters.", nameof(subscriberId))
            : subscriberId;

    private static Dlsn Parse(string key, ReadOnlySpan<byte> value) =>
        Dlsn.TryParse(Encoding.ASCII.GetString(value), out var dlsn)
            ? dlsn
            : throw new DlException(StatusCode.MetadataException, $"The subscriber position '{key}' is unreadable.");

    private sealed class ReadLock(ILease lease) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await lease.RevokeAsync();
            }
            finally
            {
                await lease.DisposeAsync();
            }
        }
    }
}
