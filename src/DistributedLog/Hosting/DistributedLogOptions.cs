using DistributedLog.Ledgers;
using DistributedLog.Protocol.Entries;
using DistributedLog.Readers;
using DistributedLog.Writers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Hosting;

/// <summary>
/// Settings of a DistributedLog client in an application: where the metadata lives, which namespace to use, and the
/// writer, reader and replication knobs. Every property is settable and binds from configuration (for example the
/// <c>DistributedLog</c> section of <c>appsettings.json</c>; time spans as <c>"00:00:05"</c>, the codec by name).
/// Register with <c>services.AddDistributedLog(o => ...)</c> or <c>services.AddDistributedLog(configuration.GetSection("DistributedLog"))</c>;
/// the per-component option objects come from <see cref="ToLedgerClientOptions"/>, <see cref="ToWriterOptions"/> and
/// <see cref="ToReaderOptions"/>.
/// </summary>
public sealed class DistributedLogOptions
{
    /// <summary>The name of the configuration section the options usually bind from: <c>DistributedLog</c>.</summary>
    public const string SectionName = "DistributedLog";

    /// <summary>
    /// The metadata store: <c>etcd://host:port[,host:port...]/root</c> or <c>file:///absolute/path/meta.db</c> (embedded
    /// SQLite). Required; bookies must be registered there for writes and reads.
    /// </summary>
    public string? MetadataUri { get; set; }

    /// <summary>The namespace of logs (non-empty, without <c>/</c>). Default <c>default</c>.</summary>
    public string Namespace { get; set; } = "default";

    /// <summary>Ensemble size E: bookies each segment's ledger is striped over. Default 3.</summary>
    public int EnsembleSize { get; set; } = 3;

    /// <summary>Write quorum Qw: bookies each entry is sent to (E ≥ Qw). Default 3.</summary>
    public int WriteQuorumSize { get; set; } = 3;

    /// <summary>Ack quorum Qa: acknowledgements that make an entry durable (Qw ≥ Qa ≥ 1). Default 2.</summary>
    public int AckQuorumSize { get; set; } = 2;

    /// <summary>Records are packed into one entry until it holds this many bytes. Default 16 KiB.</summary>
    public int OutputBufferSize { get; set; } = 16 * 1024;

    /// <summary>A partly filled entry is sent after this long (ignored with <see cref="ImmediateFlush"/>). Default 1 ms.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Send every record as soon as it is written (no batching delay). Default false.</summary>
    public bool ImmediateFlush { get; set; }

    /// <summary>Nagle-style batching: send at once while fewer entries than this are unacknowledged (0: off). Default 1.</summary>
    public int EagerFlushBelow { get; set; } = 1;

    /// <summary>Write a control record as soon as everything written is acknowledged, so readers see it at once. Default true.</summary>
    public bool CommitOnIdle { get; set; } = true;

    /// <summary>After this long without writes, a control record makes the last entry visible to readers. Default 5 ms.</summary>
    public TimeSpan CommitDelay { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Compression of entries: <see cref="CompressionCodec.None"/> or <see cref="CompressionCodec.Lz4"/>. Default none.</summary>
    public CompressionCodec Compression { get; set; } = CompressionCodec.None;

    /// <summary>A segment is completed and a new one started once it holds this many bytes. Default 256 MiB.</summary>
    public long MaxSegmentBytes { get; set; } = 256L << 20;

    /// <summary>When set, a segment is also rolled once it is this old. Default null (roll by size only).</summary>
    public TimeSpan? SegmentRollingInterval { get; set; }

    /// <summary>
    /// Writers send a keep-alive control record after this long without sending anything, so tailing readers' idle
    /// errors mean a stalled writer (see <see cref="LogWriterOptions.KeepAliveInterval"/>). Default null: none.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; set; }

    /// <summary>
    /// Time-based retention: completed segments older than this may be purged
    /// (<see cref="IDistributedLogNamespaceProvider.PurgeExpiredAsync"/>, which keeps the last completed segment, or
    /// <c>LogManager.PurgeOlderThanAsync</c>, which does not).
    /// Default null: keep records forever.
    /// </summary>
    public TimeSpan? Retention { get; set; }

    /// <summary>Most entries a reader fetches ahead of the application. Default 64.</summary>
    public int ReadAheadEntries { get; set; } = 64;

    /// <summary>How long opening a writer waits for the ownership lock held by another writer. Default 0 (fail at once).</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>Time to live of a writer's ownership lease: after its process dies another writer can take over after this long. Default 10 s.</summary>
    public TimeSpan OwnershipTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a bookie may take to answer before it counts as failed. Default 5 s.</summary>
    public TimeSpan BookieTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Racks every write set of a new segment must span (capped at <see cref="WriteQuorumSize"/>); a segment that cannot
    /// be placed so is refused with <c>NotEnoughBookies</c>. Default 1: spread as far as possible, never refuse.
    /// </summary>
    public int MinRacksPerWriteSet { get; set; } = 1;

    /// <summary>Regions every write set of a new segment must span (capped at <see cref="WriteQuorumSize"/>). Default 1 (best effort).</summary>
    public int MinRegionsPerWriteSet { get; set; } = 1;

    /// <summary>This application's network location, <c>/REGION/RACK</c>: reads try replicas there first. Default null (none).</summary>
    public string? Rack { get; set; }

    /// <summary>The ledger client settings these options describe.</summary>
    /// <param name="loggerFactory">Logging for the ledger client; none when null.</param>
    public LedgerClientOptions ToLedgerClientOptions(ILoggerFactory? loggerFactory = null) => new()
    {
        EnsembleSize = EnsembleSize,
        WriteQuorumSize = WriteQuorumSize,
        AckQuorumSize = AckQuorumSize,
        BookieTimeout = BookieTimeout,
        MinRacksPerWriteSet = MinRacksPerWriteSet,
        MinRegionsPerWriteSet = MinRegionsPerWriteSet,
        Rack = Rack,
        LoggerFactory = loggerFactory,
    };

    /// <summary>The writer settings these options describe.</summary>
    /// <param name="timeProvider">The clock for flush timers and rolling; <see cref="TimeProvider.System"/> when null.</param>
    public LogWriterOptions ToWriterOptions(TimeProvider? timeProvider = null) => new()
    {
        EnsembleSize = EnsembleSize,
        WriteQuorumSize = WriteQuorumSize,
        AckQuorumSize = AckQuorumSize,
        OutputBufferSize = OutputBufferSize,
        FlushInterval = FlushInterval,
        ImmediateFlush = ImmediateFlush,
        EagerFlushBelow = EagerFlushBelow,
        CommitOnIdle = CommitOnIdle,
        CommitDelay = CommitDelay,
        Compression = Compression,
        MaxSegmentBytes = MaxSegmentBytes,
        SegmentRollingInterval = SegmentRollingInterval,
        KeepAliveInterval = KeepAliveInterval,
        LockTimeout = LockTimeout,
        OwnershipTtl = OwnershipTtl,
        TimeProvider = timeProvider ?? TimeProvider.System,
    };

    /// <summary>The reader settings these options describe.</summary>
    /// <param name="timeProvider">The clock for reader timeouts; <see cref="TimeProvider.System"/> when null.</param>
    public LogReaderOptions ToReaderOptions(TimeProvider? timeProvider = null) => new()
    {
        ReadAheadEntries = ReadAheadEntries,
        TimeProvider = timeProvider ?? TimeProvider.System,
    };

    /// <summary>Every problem with the settings, each saying what to change; empty when they are valid.</summary>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(MetadataUri))
        {
            errors.Add($"{nameof(MetadataUri)} is required: set it to etcd://host:port/root or file:///absolute/path/meta.db.");
        }
        else if (!IsMetadataUri(MetadataUri))
        {
            errors.Add($"{nameof(MetadataUri)} '{MetadataUri}' is not a metadata URI: use etcd://host:port/root or file:///absolute/path/meta.db.");
        }

        if (string.IsNullOrEmpty(Namespace) || Namespace.Contains('/', StringComparison.Ordinal) || Namespace.Any(char.IsControl))
        {
            errors.Add($"{nameof(Namespace)} '{Namespace}' must be non-empty, without '/' or control characters.");
        }

        if (AckQuorumSize < 1 || WriteQuorumSize < AckQuorumSize || EnsembleSize < WriteQuorumSize)
        {
            errors.Add($"Quorums must satisfy {nameof(EnsembleSize)} >= {nameof(WriteQuorumSize)} >= {nameof(AckQuorumSize)} >= 1; " +
                $"got E={EnsembleSize}, Qw={WriteQuorumSize}, Qa={AckQuorumSize}.");
        }

        Positive(errors, nameof(MinRacksPerWriteSet), MinRacksPerWriteSet);
        Positive(errors, nameof(MinRegionsPerWriteSet), MinRegionsPerWriteSet);
        if (Rack is not null && !Ledgers.Placement.NetworkLocation.TryParse(Rack, out _, out string? rackError))
        {
            errors.Add($"{nameof(Rack)}: {rackError}");
        }

        Positive(errors, nameof(OutputBufferSize), OutputBufferSize);
        Positive(errors, nameof(MaxSegmentBytes), MaxSegmentBytes);
        Positive(errors, nameof(ReadAheadEntries), ReadAheadEntries);
        Positive(errors, nameof(FlushInterval), FlushInterval);
        if (EagerFlushBelow < 0)
        {
            errors.Add($"{nameof(EagerFlushBelow)} must not be negative (got {EagerFlushBelow}); 0 turns it off.");
        }


        Positive(errors, nameof(CommitDelay), CommitDelay);
        Positive(errors, nameof(OwnershipTtl), OwnershipTtl);
        Positive(errors, nameof(BookieTimeout), BookieTimeout);
        if (SegmentRollingInterval is { } rolling)
        {
            Positive(errors, nameof(SegmentRollingInterval), rolling);
        }

        if (KeepAliveInterval is { } keepAlive)
        {
            Positive(errors, nameof(KeepAliveInterval), keepAlive);
        }

        if (Retention is { } retention)
        {
            Positive(errors, nameof(Retention), retention);
        }

        if (LockTimeout < TimeSpan.Zero)
        {
            errors.Add($"{nameof(LockTimeout)} must not be negative; got {LockTimeout}.");
        }

        if (!Enum.IsDefined(Compression))
        {
            errors.Add($"{nameof(Compression)} '{Compression}' is not a codec: use None or Lz4.");
        }

        return errors;
    }

    /// <summary>Throws when the settings are invalid.</summary>
    /// <exception cref="ArgumentException">At least one setting is invalid; the message lists every problem.</exception>
    public void Validate()
    {
        var errors = GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid DistributedLog options: " + string.Join(" ", errors));
        }
    }

    /// <summary>A shallow check of the URI's form; the store's own parser reports finer problems when it is opened.</summary>
    private static bool IsMetadataUri(string uri)
    {
        const string etcd = "etcd://";
        if (uri.StartsWith(etcd, StringComparison.OrdinalIgnoreCase))
        {
            // etcd://host:port[,host:port...]/root: at least one endpoint before the root.
            string rest = uri[etcd.Length..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            return (slash < 0 ? rest : rest[..slash]).Trim().Length > 0;
        }

        return uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase)
            && Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.IsFile;
    }

    private static void Positive(List<string> errors, string name, long value)
    {
        if (value <= 0)
        {
            errors.Add($"{name} must be positive; got {value}.");
        }
    }

    private static void Positive(List<string> errors, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{name} must be positive; got {value}.");
        }
    }
}
