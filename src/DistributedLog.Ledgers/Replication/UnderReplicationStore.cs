using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Metadata;

namespace DistributedLog.Ledgers.Replication;

/// <summary>Why a bookie's copy of a ledger must be replaced.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReplicaLoss>))]
public enum ReplicaLoss
{
    /// <summary>The bookie has been gone (unregistered) longer than the lost-bookie delay, or an operator said it is dead.</summary>
    Lost,
    /// <summary>The periodic check found entries missing or corrupt on the bookie (a replaced disk, bit rot).</summary>
    MissingEntries,
    /// <summary>The bookie is being decommissioned: its copies move elsewhere while it still serves reads.</summary>
    Decommission,
}

/// <summary>
/// A ledger marked under-replicated: which bookies' copies must be replaced, why, and since when (BookKeeper's
/// <c>UnderreplicatedLedgerFormat</c>).
/// </summary>
public sealed record UnderReplicatedLedger
{
    /// <summary>The ledger.</summary>
    public required long LedgerId { get; init; }

    /// <summary>The bookies whose copies must be replaced, and why.</summary>
    public required IReadOnlyDictionary<string, ReplicaLoss> Bookies { get; init; }

    /// <summary>When the ledger was first marked.</summary>
    public required DateTimeOffset MarkedAt { get; init; }
}

/// <summary>A mark with the store version it was read at (for compare-and-set).</summary>
/// <param name="Ledger">The mark.</param>
/// <param name="Version">The store version of its key.</param>
public sealed record UnderReplicationMark(UnderReplicatedLedger Ledger, long Version);

/// <summary>
/// The auto-recovery state in the metadata store (BookKeeper's <c>LedgerUnderreplicationManager</c> and auditor election):
/// <code>
/// underreplication/ledgers/&lt;id, 19 digits&gt;   UnderReplicatedLedger as JSON (durable)
/// underreplication/locks/&lt;id, 19 digits&gt;     the replication worker working on it (bound to its lease)
/// underreplication/auditor                     the elected auditor (bound to its lease)
/// bookies/draining/&lt;bookieId&gt;                a bookie being decommissioned: never chosen for new copies (durable)
/// </code>
/// </summary>
public sealed class UnderReplicationStore(IMetadataStore store, TimeProvider? time = null)
{
    /// <summary>Prefix of the marks.</summary>
    public const string LedgersPrefix = "underreplication/ledgers/";

    /// <summary>Prefix of the workers' locks.</summary>
    public const string LocksPrefix = "underreplication/locks/";

    /// <summary>The auditor election key.</summary>
    public const string AuditorKey = "underreplication/auditor";

    /// <summary>Prefix of the draining markers.</summary>
    public const string DrainingPrefix = DistributedLog.Bookie.Registration.BookieKeys.DrainingPrefix;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The metadata store underneath.</summary>
    public IMetadataStore Store => store;

    /// <summary>Key of a ledger's mark.</summary>
    public static string MarkKey(long ledgerId) => LedgersPrefix + ledgerId.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>Key of a ledger's worker lock.</summary>
    public static string LockKey(long ledgerId) => LocksPrefix + ledgerId.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>Key of a bookie's draining marker.</summary>
    public static string DrainingKey(string bookieId) => DistributedLog.Bookie.Registration.BookieKeys.Draining(bookieId);

    /// <summary>
    /// Marks <paramref name="ledgerId"/> under-replicated for <paramref name="bookies"/> (merged into an existing mark by
    /// compare-and-set; a bookie already marked keeps its first reason). Returns whether the mark changed.
    /// </summary>
    public async Task<bool> MarkAsync(long ledgerId, IReadOnlyDictionary<string, ReplicaLoss> bookies, CancellationToken cancellationToken)
    {
        string key = MarkKey(ledgerId);
        while (true)
        {
            var current = await store.GetAsync(key, cancellationToken);
            var transaction = new MetadataTransaction();
            UnderReplicatedLedger mark;
            if (current is null)
            {
                mark = new UnderReplicatedLedger { LedgerId = ledgerId, Bookies = new Dictionary<string, ReplicaLoss>(bookies, StringComparer.Ordinal), MarkedAt = _time.GetUtcNow() };
                transaction.IfAbsent(key);
            }
            else
            {
                var existing = Parse(ledgerId, current.Value.Span);
                var merged = new Dictionary<string, ReplicaLoss>(existing.Bookies, StringComparer.Ordinal);
                foreach (var (bookie, loss) in bookies)
                {
                    merged.TryAdd(bookie, loss);
                }

                if (merged.Count == existing.Bookies.Count)
                {
                    return false;
                }

                mark = existing with { Bookies = merged };
                transaction.IfVersion(key, current.Version);
            }

            if ((await store.CommitAsync(transaction.Put(key, Serialize(mark)), cancellationToken)).Succeeded)
            {
                return true;
            }
        }
    }

    /// <summary>Every mark now.</summary>
    public async Task<IReadOnlyList<UnderReplicationMark>> ListAsync(CancellationToken cancellationToken)
    {
        var listing = await store.ListAsync(LedgersPrefix, cancellationToken);
        var marks = new List<UnderReplicationMark>(listing.Count);
        foreach (var item in listing)
        {
            if (long.TryParse(item.Key.AsSpan(LedgersPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long ledgerId))
            {
                marks.Add(new UnderReplicationMark(Parse(ledgerId, item.Value.Span), item.Version));
            }
        }

        return marks;
    }

    /// <summary>One ledger's mark, or null.</summary>
    public async Task<UnderReplicationMark?> GetAsync(long ledgerId, CancellationToken cancellationToken)
    {
        var value = await store.GetAsync(MarkKey(ledgerId), cancellationToken);
        return value is null ? null : new UnderReplicationMark(Parse(ledgerId, value.Value.Span), value.Version);
    }

    /// <summary>Removes a mark if it is still at <paramref name="version"/> (nobody added a bookie meanwhile); returns whether it did.</summary>
    public async Task<bool> CompleteAsync(long ledgerId, long version, CancellationToken cancellationToken)
    {
        string key = MarkKey(ledgerId);
        return (await store.CommitAsync(new MetadataTransaction().IfVersion(key, version).Delete(key), cancellationToken)).Succeeded;
    }

    /// <summary>Takes the worker lock of a ledger under <paramref name="lease"/>; false when another worker holds it.</summary>
    public async Task<bool> TryLockAsync(long ledgerId, ILease lease, string owner, CancellationToken cancellationToken)
    {
        string key = LockKey(ledgerId);
        var result = await store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, System.Text.Encoding.UTF8.GetBytes(owner), lease.Id), cancellationToken);
        return result.Succeeded;
    }

    /// <summary>Releases a worker lock taken with <see cref="TryLockAsync"/> (only if still bound to <paramref name="lease"/>).</summary>
    public async Task UnlockAsync(long ledgerId, ILease lease, CancellationToken cancellationToken)
    {
        string key = LockKey(ledgerId);
        var held = await store.GetAsync(key, cancellationToken);
        if (held is not null && held.LeaseId == lease.Id)
        {
            await store.CommitAsync(new MetadataTransaction().IfVersion(key, held.Version).Delete(key), cancellationToken);
        }
    }

    /// <summary>The bookies being decommissioned.</summary>
    public Task<IReadOnlySet<string>> DrainingBookiesAsync(CancellationToken cancellationToken) =>
        ClusterAudit.BookieIdsAsync(store, DrainingPrefix, cancellationToken);

    /// <summary>Marks a bookie as draining (decommission): placement stops choosing it.</summary>
    public async Task SetDrainingAsync(string bookieId, CancellationToken cancellationToken) =>
        await store.PutAsync(DrainingKey(bookieId), System.Text.Encoding.UTF8.GetBytes(_time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture)), 0, cancellationToken);

    private static byte[] Serialize(UnderReplicatedLedger mark) => JsonSerializer.SerializeToUtf8Bytes(mark, ReplicationJson.Default.UnderReplicatedLedger);

    private static UnderReplicatedLedger Parse(long ledgerId, ReadOnlySpan<byte> json)
    {
        try
        {
            var mark = JsonSerializer.Deserialize(json, ReplicationJson.Default.UnderReplicatedLedger);
            if (mark?.Bookies is not null && mark.LedgerId == ledgerId)
            {
                return mark;
            }
        }
        catch (JsonException)
        {
        }

        // An unreadable mark still says the ledger needs attention: the worker re-checks every bookie of it.
        return new UnderReplicatedLedger { LedgerId = ledgerId, Bookies = new Dictionary<string, ReplicaLoss>(), MarkedAt = DateTimeOffset.MinValue };
    }
}

/// <summary>JSON of the auto-recovery records (source-generated).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(UnderReplicatedLedger))]
public sealed partial class ReplicationJson : JsonSerializerContext;
