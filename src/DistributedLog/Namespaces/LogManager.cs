using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
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
        AsyncLogWriter.OpenAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, _namespace.Leases, Name, options ?? new LogWriterOptions(),
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

    /// <summary>Opens a reader at <paramref name="position"/> (a DLSN, a txid, or <see cref="ReadPosition.Earliest"/>); it tails the log.</summary>
    public Task<LogReader> OpenReaderAsync(ReadPosition position, LogReaderOptions? options = null, CancellationToken cancellationToken = default) =>
        LogReader.OpenAsync(_namespace.Metadata, _namespace.Ledgers, _namespace.Store, Name, position, options, cancellationToken);

    /// <summary>Opens a reader at the first record with a DLSN not less than <paramref name="dlsn"/>.</summary>
    public Task<LogReader> OpenReaderAsync(Dlsn dlsn, LogReaderOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenReaderAsync(ReadPosition.FromDlsn(dlsn), options, cancellationToken);

    /// <summary>Opens a reader at the first record with a txid not less than <paramref name="txId"/>.</summary>
    public Task<LogReader> OpenReaderAsync(long txId, LogReaderOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenReaderAsync(ReadPosition.FromTxId(txId), options, cancellationToken);

    /// <summary>
    /// Opens a reader for a subscriber: it holds the subscriber's read lock (a second reader with the same id is refused
    /// with <see cref="Protocol.Errors.LockingException"/>) and starts just after the subscriber's committed position (at
    /// the earliest record if it never committed). Commit progress with <see cref="Subscriptions"/>.<c>AdvanceAsync</c>.
    /// </summary>
    public async Task<SubscriberReader> OpenSubscriberReaderAsync(string subscriberId, LogReaderOptions? options = null, TimeSpan? lockTtl = null,
        CancellationToken cancellationToken = default)
    {
        var subscriptions = Subscriptions;
        var readLock = await subscriptions.AcquireReadLockAsync(subscriberId, lockTtl ?? TimeSpan.FromSeconds(10), cancellationToken);
        try
        {
            var committed = await subscriptions.GetPositionAsync(subscriberId, cancellationToken);
            var position = committed is Dlsn dlsn ? ReadPosition.FromDlsn(dlsn.Next()) : ReadPosition.Earliest;
            var reader = await OpenReaderAsync(position, options, cancellationToken);
            return new SubscriberReader(reader, readLock);
        }
        catch
        {
            await readLock.DisposeAsync();
            throw;
        }
    }

    /// <summary>The holder of this log's writer lock, or null when no writer owns it.</summary>
    public async Task<Writers.LogOwner?> GetOwnerAsync(CancellationToken cancellationToken = default) =>
        await _namespace.Store.GetAsync(_namespace.Metadata.Layout.Lock(Name), cancellationToken) is { } held ? Writers.LogOwner.Parse(held.Value.Span) : null;

    /// <summary>Queries over the log's records (first/last record, DLSN, txid, record count, DLSN not less than a txid).</summary>
    public LogQueries Queries => new(_namespace.Metadata, _namespace.Ledgers);

    /// <summary>The last user record (up to the LAC of an in-progress segment). Throws <see cref="Protocol.Errors.LogEmptyException"/> if none.</summary>
    public Task<LogRecordWithDlsn> GetLastRecordAsync(CancellationToken cancellationToken = default) => Queries.GetLastRecordAsync(Name, cancellationToken);

    /// <summary>The DLSN of the first readable record.</summary>
    public Task<Dlsn> GetFirstDlsnAsync(CancellationToken cancellationToken = default) => Queries.GetFirstDlsnAsync(Name, cancellationToken);

    /// <summary>The DLSN of the last user record.</summary>
    public Task<Dlsn> GetLastDlsnAsync(CancellationToken cancellationToken = default) => Queries.GetLastDlsnAsync(Name, cancellationToken);

    /// <summary>The txid of the last user record.</summary>
    public Task<long> GetLastTxIdAsync(CancellationToken cancellationToken = default) => Queries.GetLastTxIdAsync(Name, cancellationToken);

    /// <summary>User records in the log (truncated ones excluded).</summary>
    public Task<long> GetRecordCountAsync(CancellationToken cancellationToken = default) => Queries.GetRecordCountAsync(Name, cancellationToken);

    /// <summary>The DLSN of the first record with a txid not less than <paramref name="txId"/>.</summary>
    public Task<Dlsn> GetDlsnNotLessThanTxIdAsync(long txId, CancellationToken cancellationToken = default) =>
        Queries.GetDlsnNotLessThanTxIdAsync(Name, txId, cancellationToken);

    /// <summary>Truncates the log before <paramref name="dlsn"/> (see <see cref="LogTruncation"/>).</summary>
    public Task<bool> TruncateAsync(Protocol.Records.Dlsn dlsn, CancellationToken cancellationToken = default) =>
        LogTruncation.TruncateAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name, dlsn, cancellationToken);

    /// <summary>Time-based retention: truncates completed segments older than <paramref name="retention"/>; returns how many.</summary>
    public Task<int> PurgeOlderThanAsync(TimeSpan retention, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        LogTruncation.PurgeCompletedBeforeAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name,
            (time ?? TimeProvider.System).GetUtcNow() - retention, cancellationToken);

    /// <summary>Applies a retention policy (see <see cref="LogTruncation.ApplyRetentionAsync"/>) as of <paramref name="now"/>; returns how many segments were truncated.</summary>
    public Task<int> ApplyRetentionAsync(RetentionPolicy policy, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        LogTruncation.ApplyRetentionAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, Name, policy, now, cancellationToken);

    /// <summary>The committed positions of the log's subscribers.</summary>
    public Subscriptions.SubscriptionsStore Subscriptions => new(_namespace.Store, _namespace.Metadata.Layout, Name);
}
