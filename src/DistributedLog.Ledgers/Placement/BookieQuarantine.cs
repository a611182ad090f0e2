using System.Collections.Concurrent;

namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// Bookies that recently failed a request of this client (BookKeeper's bookie quarantine): new ensembles and
/// replacements avoid them while others are available, and they are ordinary candidates again once their quarantine
/// time has passed. Thread-safe.
/// </summary>
internal sealed class BookieQuarantine(TimeSpan duration, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, long> _until = new(StringComparer.Ordinal);

    /// <summary>How long a failed bookie stays quarantined.</summary>
    public TimeSpan Duration { get; } = duration;

    /// <summary>Quarantines <paramref name="bookieId"/> from now for <see cref="Duration"/> (a new failure extends it).</summary>
    public void Add(string bookieId)
    {
        if (Duration <= TimeSpan.Zero)
        {
            return;
        }

        long until = time.GetTimestamp() + (long)(Duration.TotalSeconds * time.TimestampFrequency);
        _until[bookieId] = until;
    }

    /// <summary>The bookies quarantined now (expired entries are dropped).</summary>
    public IReadOnlySet<string> Current()
    {
        if (_until.IsEmpty)
        {
            return EmptySet;
        }

        long now = time.GetTimestamp();
        var current = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (bookie, until) in _until)
        {
            if (until > now)
            {
                current.Add(bookie);
            }
            else
            {
                _until.TryRemove(new KeyValuePair<string, long>(bookie, until));
            }
        }

        return current;
    }

    private static readonly IReadOnlySet<string> EmptySet = new HashSet<string>();
}
