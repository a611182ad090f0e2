using DistributedLog.Bookie.IO;

namespace DistributedLog.Bookie.Journal;

/// <summary>Settings of a bookie's journal.</summary>
public sealed class JournalOptions
{
    /// <summary>The journal directory (put it on its own disk in production).</summary>
    public required string Directory { get; init; }

    /// <summary>Size of each journal file; files are preallocated to this size and rolled when full. Default 64 MiB.</summary>
    public long FileSize { get; init; } = 64L << 20;

    /// <summary>
    /// Fill new journal files with zeros before use (default true), so that appends inside them change neither the
    /// file size nor the extent map and <c>fdatasync</c> flushes data only. When false, space is only reserved.
    /// </summary>
    public bool ZeroFill { get; init; } = true;

    /// <summary>Upper bound of one group-commit batch in bytes (default 8 MiB); appends beyond it wait for the next batch.</summary>
    public int MaxBatchBytes { get; init; } = 8 << 20;

    /// <summary>How many retired journal files are kept for reuse instead of deleted (default 4; 0 disables recycling).</summary>
    public int RecycleFiles { get; init; } = 4;

    /// <summary>Whether each batch is made durable with <c>fdatasync</c> before it is acknowledged (default true; turn off only in benchmarks).</summary>
    public bool SyncData { get; init; } = true;

    /// <summary>The fault-injection seam for the journal's files.</summary>
    public IFileFaultInjector Faults { get; init; } = NoFaults.Instance;
}
