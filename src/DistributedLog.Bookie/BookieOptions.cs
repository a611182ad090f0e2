using DistributedLog.Bookie.IO;

namespace DistributedLog.Bookie;

/// <summary>Settings of a bookie (storage node).</summary>
public sealed class BookieOptions
{
    /// <summary>The bookie's id as clients name it, normally its <c>host:port</c>.</summary>
    public required string BookieId { get; init; }

    /// <summary>Journal directory (a separate disk in production).</summary>
    public required string JournalDirectory { get; init; }

    /// <summary>Ledger storage directory (entry logs, index, checkpoint).</summary>
    public required string LedgerDirectory { get; init; }

    /// <summary>Size of each preallocated journal file. Default 64 MiB.</summary>
    public long JournalFileSize { get; init; } = 64L << 20;

    /// <summary>Zero-fill journal files ahead of use (default true) so fdatasync never updates file metadata.</summary>
    public bool JournalZeroFill { get; init; } = true;

    /// <summary>Make every journal batch durable before acknowledging (default true; off only for benchmarks).</summary>
    public bool JournalSyncData { get; init; } = true;

    /// <summary>How often ledger storage is flushed and the journal trimmed (the checkpoint). Default 10 s.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often garbage collection runs. Default 1 min.</summary>
    public TimeSpan GcInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often free disk space is checked. Default 5 s.</summary>
    public TimeSpan DiskCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Below this many free bytes on the journal or ledger disk the bookie turns read-only. Default 256 MiB.</summary>
    public long MinFreeDiskBytes { get; init; } = 256L << 20;

    /// <summary>How long an add may wait for room in the journal batch or write cache before it is refused as too many requests. Default 10 s.</summary>
    public TimeSpan MaxAddThrottle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound of a long-poll read's wait. Default 60 s.</summary>
    public TimeSpan MaxLongPollTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The fault-injection seam for all of the bookie's files.</summary>
    public IFileFaultInjector Faults { get; init; } = NoFaults.Instance;

    /// <summary>The clock for timers (long polls, checkpoints).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
