namespace DistributedLog.Ledgers.Metadata;

/// <summary>
/// Where ledger metadata lives: typed, versioned records with compare-and-set writes. Implemented over the project's
/// metadata store (embedded SQLite or etcd) by <c>MetadataLedgerStore</c>.
/// </summary>
public interface ILedgerMetadataStore
{
    /// <summary>A new, never used ledger id.</summary>
    Task<long> NextLedgerIdAsync(CancellationToken cancellationToken);

    /// <summary>Stores the metadata of a new ledger; fails with <c>MetadataVersionConflict</c> if the id exists.</summary>
    Task<Versioned<LedgerMetadata>> CreateAsync(LedgerMetadata metadata, CancellationToken cancellationToken);

    /// <summary>The ledger's metadata, or null if there is no such ledger.</summary>
    Task<Versioned<LedgerMetadata>?> ReadAsync(long ledgerId, CancellationToken cancellationToken);

    /// <summary>Replaces the metadata if its version is still <paramref name="expectedVersion"/>; else throws <c>MetadataVersionConflict</c>.</summary>
    Task<Versioned<LedgerMetadata>> WriteAsync(LedgerMetadata metadata, long expectedVersion, CancellationToken cancellationToken);

    /// <summary>Deletes the ledger's metadata; false if it did not exist.</summary>
    Task<bool> DeleteAsync(long ledgerId, CancellationToken cancellationToken);
}

/// <summary>
/// The registered bookies and those a client may place ledgers on (registered and placeable: not read-only), with their
/// locations, kept current by watching the registry.
/// </summary>
public interface IBookieRegistry
{
    /// <summary>The placeable bookies now (registered, and not read-only).</summary>
    IReadOnlyCollection<string> WritableBookies { get; }

    /// <summary>Every registered bookie now, placeable or not, with its location and why it is not placeable.</summary>
    IReadOnlyCollection<RegisteredBookie> RegisteredBookies { get; }

    /// <summary>
    /// Where <paramref name="bookieId"/> is: from its registration, or the last one seen if it is gone now; null if this
    /// registry never saw it.
    /// </summary>
    Placement.NetworkLocation? LocationOf(string bookieId);
}

/// <summary>A registered bookie as clients see it.</summary>
/// <param name="Id">Its id (<c>host:port</c>).</param>
/// <param name="Location">Its rack (<see cref="Placement.NetworkLocation.Default"/> when it announced none).</param>
/// <param name="NotPlaceableReason">Why new ensembles must not use it (e.g. <c>read-only</c>), or null when they may.</param>
public sealed record RegisteredBookie(string Id, Placement.NetworkLocation Location, string? NotPlaceableReason)
{
    /// <summary>Whether new ensembles and replacements may use it.</summary>
    public bool IsPlaceable => NotPlaceableReason is null;
}
