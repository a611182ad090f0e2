namespace DistributedLog.Bookie.Journal;

/// <summary>Receives the outcome of journal appends (called on the journal thread: must be quick and must not block).</summary>
public interface IJournalCallback
{
    /// <summary>The record of <paramref name="completion"/> is durable (<paramref name="error"/> null) or failed.</summary>
    void OnJournalComplete(in JournalCompletion completion, Exception? error);
}

/// <summary>What to tell whom once a journal record is durable. A value type, so that appends allocate nothing.</summary>
/// <param name="Target">Who is told.</param>
/// <param name="RequestId">The request that asked for the record.</param>
/// <param name="LedgerId">The ledger of the record.</param>
/// <param name="EntryId">The entry of the record (or -1).</param>
/// <param name="Tag">A value the target chooses (for example the operation).</param>
/// <param name="Timestamp">When the request arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for latency metrics.</param>
public readonly record struct JournalCompletion(IJournalCallback Target, ulong RequestId, long LedgerId, long EntryId, int Tag, long Timestamp = 0);

/// <summary>Outcome of an append.</summary>
public enum JournalAppendResult
{
    /// <summary>Queued: the callback will be told when it is durable.</summary>
    Queued,
    /// <summary>The current batch is full: wait for <see cref="Journal.WaitForSpaceAsync"/> and try again.</summary>
    Full,
    /// <summary>The journal failed (I/O error) and accepts nothing any more.</summary>
    Failed,
}
