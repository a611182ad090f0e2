namespace DistributedLog.Segments;

/// <summary>
/// A namespace's retention policy, applied automatically by the proxy that owns a log (and by the sandbox): completed
/// segments past it are truncated and their ledgers deleted, oldest first (see
/// <see cref="LogTruncation.ApplyRetentionAsync"/>). The in-progress segment is never touched and, as in DistributedLog,
/// the last completed segment is kept unless <see cref="KeepLastCompletedSegment"/> is turned off (an explicit
/// <c>truncate</c> still removes it).
/// </summary>
public sealed record RetentionPolicy
{
    /// <summary>No retention: keep everything until truncated explicitly.</summary>
    public static RetentionPolicy KeepForever { get; } = new();

    /// <summary>
    /// A completed segment whose completion time is older than this is removed (DistributedLog's
    /// <c>logSegmentRetentionHours</c>, counted from completion). Null: no age limit.
    /// </summary>
    public TimeSpan? MaxAge { get; init; }

    /// <summary>
    /// Most bytes a log keeps in its completed segments (each segment's ledger length); beyond it the oldest completed
    /// segments are removed until the rest fit. Null: no size limit.
    /// </summary>
    public long? MaxBytesPerLog { get; init; }

    /// <summary>Keep the last completed segment whatever its age or size (DistributedLog's rule). Default true.</summary>
    public bool KeepLastCompletedSegment { get; init; } = true;

    /// <summary>Whether the policy removes anything at all.</summary>
    public bool IsEnabled => MaxAge is not null || MaxBytesPerLog is not null;

    /// <summary>Checks the policy; returns what is wrong, or nothing.</summary>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (MaxAge is { } age && age <= TimeSpan.Zero)
        {
            errors.Add($"The retention age must be positive (got {age}).");
        }

        if (MaxBytesPerLog is { } bytes && bytes <= 0)
        {
            errors.Add($"The retention size per log must be positive (got {bytes} bytes).");
        }

        return errors;
    }
}
