namespace DistributedLog.Bookie;

/// <summary>
/// What a bookie keeps in memory per ledger: the master key (checked on every add), the fence flag, the highest
/// last-add-confirmed seen piggybacked on entries, the last entry id, and the long polls waiting for the LAC to move.
/// </summary>
internal sealed class BookieLedger(long ledgerId)
{
    public long LedgerId { get; } = ledgerId;

    /// <summary>The master key, once known.</summary>
    public byte[]? MasterKey;

    /// <summary>Whether the master key was journaled since this bookie started.</summary>
    public bool KeyJournaled;

    /// <summary>Whether the ledger is fenced.</summary>
    public volatile bool Fenced;

    /// <summary>Highest piggybacked LAC seen (-1: none yet). Updated with <see cref="Interlocked"/>.</summary>
    public long Lac = -1;

    /// <summary>Highest entry id added (-1: none). Updated with <see cref="Interlocked"/>.</summary>
    public long LastEntryId = -1;

    /// <summary>Whether <see cref="Lac"/> and <see cref="LastEntryId"/> were loaded from storage.</summary>
    public bool Loaded;

    /// <summary>Long polls waiting on this ledger; guarded by locking the list.</summary>
    public readonly List<LongPollWaiter> Waiters = [];

    /// <summary>Raises <paramref name="location"/> to <paramref name="value"/> if larger; returns whether it changed.</summary>
    public static bool RaiseTo(ref long location, long value)
    {
        long current = Volatile.Read(ref location);
        while (value > current)
        {
            long seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }
}

/// <summary>A long-poll read waiting until a ledger's LAC reaches <see cref="EntryId"/>.</summary>
internal sealed class LongPollWaiter
{
    public required Server.IResponseSink Sink { get; init; }

    public required ulong RequestId { get; init; }

    public required long EntryId { get; init; }

    public required BookieLedger Ledger { get; init; }

    public ITimer? Timer { get; set; }

    /// <summary>Set by whoever answers the poll first (LAC update, timeout or deletion); 1 once answered.</summary>
    public int Answered;
}
