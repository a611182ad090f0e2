namespace DistributedLog.Bookie.Storage;

/// <summary>
/// A ledger's metadata in memory. Changes and the matching index writes happen under a lock on the instance, so the
/// last record written for a ledger always describes its latest state.
/// </summary>
internal sealed class LedgerState
{
    private volatile bool _deleted;

    public byte[]? MasterKey { get; set; }

    public bool Fenced { get; set; }

    /// <summary>Deleted (a tombstone: ids are never reused). Read without the lock on the hot paths.</summary>
    public bool Deleted
    {
        get => _deleted;
        set => _deleted = value;
    }

    /// <summary>The deleted ledger's locations were removed from the index by garbage collection.</summary>
    public bool Purged { get; set; }

    /// <summary>A record for this ledger has been written to the index.</summary>
    public bool Persisted { get; set; }

    public LedgerRecord ToRecord() => new(MasterKey, Fenced, Deleted, Purged);

    public static LedgerState FromRecord(LedgerRecord record) => new()
    {
        MasterKey = record.MasterKey,
        Fenced = record.Fenced,
        Deleted = record.Deleted,
        Purged = record.Purged,
        Persisted = true,
    };
}
