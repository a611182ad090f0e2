namespace DistributedLog.Ledgers.Handles;

/// <summary>
/// Receives the outcomes of adds made with <see cref="LedgerHandle.AddEntry"/>: one call per entry, strictly in entry
/// order, never two at once for one ledger. Called on the thread that saw the acknowledgement (a bookie connection's
/// receive loop): it must be short and must not block or throw.
/// </summary>
public interface ILedgerAddCallback
{
    /// <summary>The add of <paramref name="entryId"/> is acknowledged by the ack quorum (<paramref name="error"/> null) or failed.</summary>
    /// <param name="entryId">The entry id the add was given.</param>
    /// <param name="error">Why it failed (its outcome is then unknown: the entry may be on some bookies), or null.</param>
    /// <param name="state">The state passed to <see cref="LedgerHandle.AddEntry"/>.</param>
    void OnAddCompleted(long entryId, Exception? error, object? state);
}
