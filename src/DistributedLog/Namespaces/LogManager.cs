using DistributedLog.Segments;
using Microsoft.Extensions.Logging;
using DistributedLog.Writers;

namespace DistributedLog.Namespaces;

/// <summary>
/// One log of a namespace (DistributedLog's <c>DistributedLogManager</c>): opens its writer and readers, lists its
/// segments and recovers it.
/// </summary>
public sealed class LogManager
{
    private readonly DistributedLogNamespace _namespace;

    internal LogManager(DistributedLogNamespace ns, string name)
    {
        _namespace = ns;
        Name = name;
    }

    /// <summary>The log's name.</summary>
    public string Name { get; }

    /// <summary>The namespace.</summary>
    public DistributedLogNamespace Namespace => _namespace;

    /// <summary>Opens the log's writer: takes ownership and recovers in-progress segments first.</summary>
    public Task<AsyncLogWriter> OpenWriterAsync(LogWriterOptions? options = null, CancellationToken cancellationToken = default) =>
        AsyncLogWriter.OpenAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name, options ?? new LogWriterOptions(),
            _namespace.LoggerFactory.CreateLogger<AsyncLogWriter>(), cancellationToken);

    /// <summary>The log's segments in LSSN order.</summary>
    public async Task<IReadOnlyList<LogSegmentMetadata>> GetSegmentsAsync(CancellationToken cancellationToken = default) =>
        [.. (await _namespace.Metadata.GetSegmentsAsync(Name, cancellationToken)).Select(s => s.Segment)];

    /// <summary>Completes any in-progress segment left by a writer that crashed or was aborted (fencing it).</summary>
    public Task RecoverAsync(CancellationToken cancellationToken = default) =>
        LogRecovery.RecoverAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name,
            _namespace.LoggerFactory.CreateLogger<LogManager>(), cancellationToken);

    /// <summary>Whether the log was sealed with end of stream.</summary>
    public async Task<bool> IsEndOfStreamMarkedAsync(CancellationToken cancellationToken = default) =>
        (await _namespace.Metadata.GetLogAsync(Name, cancellationToken)).Log.MaxTxId == Protocol.Records.LogRecord.EndOfStreamTxId;

    /// <summary>Truncates the log before <paramref name="dlsn"/> (see <see cref="LogTruncation"/>).</summary>
    public Task<bool> TruncateAsync(Protocol.Records.Dlsn dlsn, CancellationToken cancellationToken = default) =>
        LogTruncation.TruncateAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name, dlsn, cancellationToken);

    /// <summary>Time-based retention: truncates completed segments older than <paramref name="retention"/>; returns how many.</summary>
    public Task<int> PurgeOlderThanAsync(TimeSpan retention, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        LogTruncation.PurgeCompletedBeforeAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name,
            (time ?? TimeProvider.System).GetUtcNow() - retention, cancellationToken);

    /// <summary>The committed positions of the log's subscribers.</summary>
    public Subscriptions.SubscriptionsStore Subscriptions => new(_namespace.Store, _namespace.Metadata.Layout, Name);
}
