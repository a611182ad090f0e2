namespace DistributedLog.Bookie.Journal;

/// <summary>
/// A position in the journal: everything before it (in file order) is durable in the journal. The checkpoint stores
/// the mark up to which ledger storage holds every entry, so restart replays only what comes after it.
/// </summary>
/// <param name="FileId">The journal file.</param>
/// <param name="Offset">The byte offset in that file.</param>
public readonly record struct LogMark(long FileId, long Offset) : IComparable<LogMark>
{
    /// <summary>The mark before any journal file.</summary>
    public static LogMark Zero => default;

    /// <inheritdoc />
    public int CompareTo(LogMark other) => FileId != other.FileId ? FileId.CompareTo(other.FileId) : Offset.CompareTo(other.Offset);

    /// <summary>Whether <paramref name="a"/> is before <paramref name="b"/>.</summary>
    public static bool operator <(LogMark a, LogMark b) => a.CompareTo(b) < 0;

    /// <summary>Whether <paramref name="a"/> is after <paramref name="b"/>.</summary>
    public static bool operator >(LogMark a, LogMark b) => a.CompareTo(b) > 0;

    /// <summary>Whether <paramref name="a"/> is not after <paramref name="b"/>.</summary>
    public static bool operator <=(LogMark a, LogMark b) => a.CompareTo(b) <= 0;

    /// <summary>Whether <paramref name="a"/> is not before <paramref name="b"/>.</summary>
    public static bool operator >=(LogMark a, LogMark b) => a.CompareTo(b) >= 0;

    /// <inheritdoc />
    public override string ToString() => $"{FileId:x16}@{Offset}";
}
