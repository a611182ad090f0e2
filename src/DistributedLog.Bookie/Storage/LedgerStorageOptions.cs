using DistributedLog.Bookie.IO;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Storage;

/// <summary>Settings of a <see cref="DbLedgerStorage"/>. Defaults suit a production bookie; tests shrink the sizes.</summary>
public sealed class LedgerStorageOptions
{
    /// <summary>The ledger directory. Entry logs go to <c>&lt;Directory&gt;/entrylogs</c>, the index to <c>&lt;Directory&gt;/index</c>.</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// Memory for entries not yet flushed, split into two halves: one takes new adds while the other is written out.
    /// When the active half is full the halves swap and a background flush starts; while that flush runs and the new
    /// half fills up too, adds are refused (back-pressure). Default 64 MiB.
    /// </summary>
    public long WriteCacheSize { get; init; } = 64L << 20;

    /// <summary>Memory for entries recently read from disk (and read ahead). 0 disables the read cache. Default 32 MiB.</summary>
    public long ReadCacheSize { get; init; } = 32L << 20;

    /// <summary>
    /// Bytes read in one system call on a read-cache miss; the entries of the same ledger that follow the requested one in
    /// that span are put into the read cache (sequential readers then hit memory). 0 disables read-ahead. Default 256 KiB.
    /// </summary>
    public int ReadAheadBytes { get; init; } = 256 << 10;

    /// <summary>An entry log is rolled (a new file started) once writing the next record would make it larger than this. Default 256 MiB.</summary>
    public long EntryLogSizeLimit { get; init; } = 256L << 20;

    /// <summary>Bytes reserved on disk (without zero-filling, the file size is unchanged) when an entry log is created. Default: the size limit, capped at 256 MiB.</summary>
    public long? EntryLogPreallocationBytes { get; init; }

    /// <summary>Entry-log writes are gathered in a buffer of this size before each positional write. Default 1 MiB.</summary>
    public int EntryLogWriteBufferSize { get; init; } = 1 << 20;

    /// <summary>
    /// The longest <see cref="ILedgerStorage.WaitForCacheSpaceAsync"/> waits for a flush to free write-cache space before
    /// returning anyway (the caller's next add then fails again and it rejects the request as too many). Default 10 s.
    /// </summary>
    public TimeSpan MaxThrottleWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Garbage collection compacts an entry log (copies its live entries into the current log and deletes it) when the share
    /// of its bytes that belong to live ledgers is below this. 0 disables compaction (fully dead logs are still deleted). Default 0.5.
    /// </summary>
    public double CompactionThreshold { get; init; } = 0.5;

    /// <summary>Whether disposing the storage flushes the write cache first. Default true.</summary>
    public bool FlushOnClose { get; init; } = true;

    /// <summary>The fault-injection seam every entry-log write and sync passes through (tests make it throw). Default: none.</summary>
    public IFileFaultInjector? FaultInjector { get; init; }

    /// <summary>Where to log. Default: nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The clock for the throttle timeout. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal long PreallocationBytes => EntryLogPreallocationBytes ?? Math.Min(EntryLogSizeLimit, 256L << 20);

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("The ledger storage needs a directory.", nameof(Directory));
        }

        if (WriteCacheSize < 2 * 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(WriteCacheSize), WriteCacheSize, "The write cache needs at least 8 KiB.");
        }

        if (ReadCacheSize < 0 || ReadAheadBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ReadCacheSize), "Read cache and read-ahead sizes cannot be negative.");
        }

        if (EntryLogSizeLimit < 4096 || EntryLogSizeLimit > 1L << 40)
        {
            throw new ArgumentOutOfRangeException(nameof(EntryLogSizeLimit), EntryLogSizeLimit, "The entry log size limit must be between 4 KiB and 1 TiB.");
        }

        if (EntryLogWriteBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(EntryLogWriteBufferSize), EntryLogWriteBufferSize, "The entry log write buffer needs at least 4 KiB.");
        }

        if (EntryLogPreallocationBytes is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(EntryLogPreallocationBytes), EntryLogPreallocationBytes, "Preallocation cannot be negative.");
        }

        if (CompactionThreshold is < 0 or > 1 || double.IsNaN(CompactionThreshold))
        {
            throw new ArgumentOutOfRangeException(nameof(CompactionThreshold), CompactionThreshold, "The compaction threshold is a ratio between 0 and 1.");
        }

        if (MaxThrottleWait < TimeSpan.Zero && MaxThrottleWait != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxThrottleWait), MaxThrottleWait, "The throttle wait cannot be negative.");
        }

        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
