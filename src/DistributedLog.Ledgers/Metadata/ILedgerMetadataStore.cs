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

/// <summary>The bookies a client may place ledgers on (registered and writable), kept current by watching the registry.</summary>
public interface IBookieRegistry
{
    /// <summary>The writable bookies now.</summary>
    IReadOnlyCollection<string> WritableBookies { get; }
}
