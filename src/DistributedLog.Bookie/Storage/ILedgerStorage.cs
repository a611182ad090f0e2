using System.Buffers;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// A bookie's ledger storage: where entries live after the journal has made them durable. Entries are added to a
/// write cache (readable at once) and flushed in the background to entry-log files with an index
/// (ledger id, entry id) → location. <see cref="FlushAsync"/> is the checkpoint: once it returns, everything added before
/// the call survives a crash without the journal. Entries are packaged entries (see <see cref="Wire.PackagedEntry"/>);
/// the storage verifies their checksum whenever it reads them from disk.
/// </summary>
/// <remarks>Thread-safe: adds come from many connections, reads and flushes run concurrently.</remarks>
public interface ILedgerStorage : IAsyncDisposable
{
    /// <summary>Whether the ledger is known (has a master key or entries) and not deleted.</summary>
    bool LedgerExists(long ledgerId);

    /// <summary>The ids of the ledgers known here and not deleted (a snapshot, in no particular order).</summary>
    IReadOnlyList<long> ListLedgers();

    /// <summary>Whether the ledger was deleted on this bookie (ids are never reused, so a deleted ledger stays deleted).</summary>
    bool IsDeleted(long ledgerId);

    /// <summary>Records the ledger's master key, creating the ledger if absent. Returns false if a different key is already stored.</summary>
    bool SetMasterKey(long ledgerId, ReadOnlySpan<byte> masterKey);

    /// <summary>Copies the ledger's master key into <paramref name="destination"/>; returns its length, or -1 if the ledger is unknown.</summary>
    int GetMasterKey(long ledgerId, Span<byte> destination);

    /// <summary>Marks the ledger fenced (creating it if absent). Returns true if it was not fenced before. Durable at the next flush.</summary>
    bool SetFenced(long ledgerId);

    /// <summary>Whether the ledger is fenced.</summary>
    bool IsFenced(long ledgerId);

    /// <summary>
    /// Adds (or overwrites) an entry. Returns false without adding when the write cache is full; the caller then awaits
    /// <see cref="WaitForCacheSpaceAsync"/> and tries again (or rejects the add as too many requests).
    /// </summary>
    /// <exception cref="Protocol.Errors.BookieException">The ledger was deleted (<c>NoSuchLedger</c>).</exception>
    /// <exception cref="IOException">Storage failed.</exception>
    bool TryAddEntry(long ledgerId, long entryId, ReadOnlySpan<byte> packagedEntry);

    /// <summary>Completes when the write cache has room again (after a flush), or when <paramref name="cancellationToken"/> fires.</summary>
    ValueTask WaitForCacheSpaceAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reads an entry into <paramref name="destination"/>. Returns false if the ledger or entry does not exist.
    /// </summary>
    /// <exception cref="Protocol.Errors.ChecksumFailedException">The stored entry is corrupt.</exception>
    bool TryReadEntry(long ledgerId, long entryId, IBufferWriter<byte> destination);

    /// <summary>The highest entry id stored for the ledger, or -1 if it has none (or is unknown).</summary>
    long GetLastEntryId(long ledgerId);

    /// <summary>Deletes the ledger: it stops being readable at once (durably); its space is reclaimed by garbage collection.</summary>
    void DeleteLedger(long ledgerId);

    /// <summary>Makes everything added before this call durable in entry logs and index (the checkpoint).</summary>
    Task FlushAsync(CancellationToken cancellationToken);

    /// <summary>Reclaims the space of deleted ledgers: removes entry logs with no live data and compacts mostly-dead ones.</summary>
    Task<GarbageCollectionResult> CollectGarbageAsync(CancellationToken cancellationToken);

    /// <summary>Counters describing the storage.</summary>
    LedgerStorageStats GetStats();
}

/// <summary>What one garbage-collection pass did.</summary>
/// <param name="EntryLogsDeleted">Entry-log files removed because none of their ledgers was live.</param>
/// <param name="EntryLogsCompacted">Entry-log files rewritten (live entries copied out) and then removed.</param>
/// <param name="BytesReclaimed">Bytes of disk freed.</param>
public readonly record struct GarbageCollectionResult(int EntryLogsDeleted, int EntryLogsCompacted, long BytesReclaimed);

/// <summary>Storage counters.</summary>
/// <param name="WriteCacheBytes">Bytes in the write caches (active and being flushed).</param>
/// <param name="ReadCacheBytes">Bytes in the read cache.</param>
/// <param name="EntryLogCount">Entry-log files on disk.</param>
/// <param name="EntryLogBytes">Bytes of entry-log files on disk.</param>
/// <param name="LedgerCount">Live ledgers.</param>
public readonly record struct LedgerStorageStats(long WriteCacheBytes, long ReadCacheBytes, int EntryLogCount, long EntryLogBytes, int LedgerCount);
