using DistributedLog.Bookie.IO;

namespace DistributedLog.Bookie.Hosting;

/// <summary>Settings of a bookie process (or an in-process bookie): where its data lives, where it listens, and its tuning.</summary>
public sealed class BookieHostOptions
{
    /// <summary>Data directory; the journal goes to <c>journal/</c> and ledger storage to <c>ledgers/</c> under it unless set apart.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Journal directory (default <c>&lt;data&gt;/journal</c>); a separate disk in production.</summary>
    public string? JournalDirectory { get; init; }

    /// <summary>Ledger storage directory (default <c>&lt;data&gt;/ledgers</c>).</summary>
    public string? LedgerDirectory { get; init; }

    /// <summary>Address to listen on. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to listen on; 0 picks a free one. Default 3181 (BookKeeper's).</summary>
    public int Port { get; init; } = 3181;

    /// <summary>Size of the write cache (both halves). Default 64 MiB.</summary>
    public long WriteCacheSize { get; init; } = 64L << 20;

    /// <summary>Size of each journal file. Default 64 MiB.</summary>
    public long JournalFileSize { get; init; } = 64L << 20;

    /// <summary>Size limit of an entry log file. Default 256 MiB.</summary>
    public long EntryLogSizeLimit { get; init; } = 256L << 20;

    /// <summary>Checkpoint interval. Default 10 s.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Garbage-collection interval. Default 1 min.</summary>
    public TimeSpan GcInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Interval of the scan-and-compare ledger garbage collection (local ledgers without metadata are deleted; see
    /// <see cref="Registration.OrphanLedgerCollector"/>). Needs a metadata store. Default 10 min; <see cref="TimeSpan.Zero"/> turns it off.
    /// </summary>
    public TimeSpan GcScanInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a local ledger must stay without metadata before the scan-and-compare collector deletes it. Default 1 h.</summary>
    public TimeSpan GcOrphanDelay { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often free space is checked and a bookie made read-only by a full disk tries to become writable again. Default 5 s.</summary>
    public TimeSpan DiskCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Free bytes below which the bookie turns read-only. Default 256 MiB.</summary>
    public long MinFreeDiskBytes { get; init; } = 256L << 20;

    /// <summary>Make journal writes durable before acknowledging (default true).</summary>
    public bool JournalSyncData { get; init; } = true;

    /// <summary>
    /// Metadata store URI (<c>file:///…/meta.db</c> or <c>etcd://host:port/root</c>). When set (or when <see cref="MetadataStore"/>
    /// is), the bookie checks its cookie and registers itself under a lease so clients can place ledgers on it.
    /// </summary>
    public string? MetadataUri { get; init; }

    /// <summary>An already open metadata store to register in (not disposed by the host); wins over <see cref="MetadataUri"/>.</summary>
    public Metadata.IMetadataStore? MetadataStore { get; init; }

    /// <summary>
    /// The bookie's network location, <c>/REGION/RACK</c>, published in its registration for rack-aware placement.
    /// Default <c>/default-region/default-rack</c>.
    /// </summary>
    public string Rack { get; init; } = "/default-region/default-rack";

    /// <summary>Time to live of the registration lease: how long after a crash clients still see the bookie. Default 5 s.</summary>
    public TimeSpan RegistrationTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Limits on client connections (timeouts for handshakes and unfinished frames, connection and buffer caps).</summary>
    public Server.BookieServerOptions Server { get; init; } = new();

    /// <summary>The fault-injection seam.</summary>
    public IFileFaultInjector Faults { get; init; } = NoFaults.Instance;
}
