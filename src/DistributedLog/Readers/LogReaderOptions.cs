namespace DistributedLog.Readers;

/// <summary>Settings of a <see cref="LogReader"/>.</summary>
public sealed class LogReaderOptions
{
    /// <summary>
    /// Most entries read ahead of the application: fetched from bookies and decoded, but not yet returned by a read.
    /// Bounds the reader's memory together with <see cref="ReadAheadBytes"/>. Default 64.
    /// </summary>
    public int ReadAheadEntries { get; init; } = 64;

    /// <summary>
    /// Most entry bytes held ahead of the application (a soft bound: one batch of reads may pass it). Default 8 MiB.
    /// </summary>
    public long ReadAheadBytes { get; init; } = 8L << 20;

    /// <summary>How long one long-poll read at the tail of an in-progress segment waits for a new entry. Default 1 s.</summary>
    public TimeSpan LongPollTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// When set, a read that waited this long without any new record — nor any entry at all, such as a writer's keep-alive
    /// (<see cref="Writers.LogWriterOptions.KeepAliveInterval"/>) — fails with <see cref="IdleReaderException"/>, and so
    /// does every later read (DistributedLog's <c>readerIdleErrorThresholdMillis</c>). Default null: a tailing reader waits
    /// for as long as it takes.
    /// </summary>
    public TimeSpan? IdleReaderErrorThreshold { get; init; }

    /// <summary>
    /// How often a reader waiting at the tail re-lists the log's segments even without a metadata watch event (a safety net
    /// for a lost watch). Default 5 s.
    /// </summary>
    public TimeSpan SegmentPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock used for timeouts (tests inject their own).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadAheadEntries, 1, nameof(ReadAheadEntries));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadAheadBytes, 1, nameof(ReadAheadBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(LongPollTimeout, TimeSpan.Zero, nameof(LongPollTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SegmentPollInterval, TimeSpan.Zero, nameof(SegmentPollInterval));
        if (IdleReaderErrorThreshold is { } idle)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(idle, TimeSpan.Zero, nameof(IdleReaderErrorThreshold));
        }

        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
