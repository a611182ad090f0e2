using System.Text.Json;
using DistributedLog.Ledgers;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Writers;

/// <summary>
/// The single writer of a log (DistributedLog's AsyncLogWriter). Opening it takes ownership of the log (a lease-bound
/// lock, unless disabled) and recovers whatever in-progress segment a previous writer left (fence, find the last
/// entry, complete the segment by compare-and-set). Writes are batched into entries of the current segment and
/// complete with their DLSN, in write order, once durable on the ack quorum. Segments roll by size or time; the first
/// write after a roll starts segment N+1. <see cref="CloseAsync"/> completes the segment and releases ownership;
/// <see cref="AbortAsync"/> leaves it for recovery.
/// </summary>
public sealed partial class AsyncLogWriter : IAsyncDisposable
{
    private readonly NamespaceMetadata _namespace;
    private readonly IMetadataStore _store;
    private readonly LedgerClient _ledgers;
    private readonly LogWriterOptions _options;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private long _outstandingRecords;
    private long _outstandingBytes;
    private TaskCompletionSource? _roomWaiter;
    private readonly SemaphoreSlim _rollLock = new(1, 1);
    private readonly List<(LogRecord Record, PendingWrite Write)> _queued = [];
    private readonly OwnershipLeases _leases;
    private ILease? _lease;
    private long _lockVersion;
    private CancellationTokenRegistration _leaseLost;
    private LogSegmentWriter? _segment;
    private Task? _rolling;
    private Exception? _error;
    private bool _closed;
    private bool _sealed;
    private long _lastTxId = -1;
    private long _acceptedTxId = -1;
    private long _nextStartSequenceId;

    private AsyncLogWriter(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, OwnershipLeases leases, string logName, LogWriterOptions options,
        ILogger logger)
    {
        _leases = leases;
        _namespace = ns;
        _store = store;
        _ledgers = ledgers;
        LogName = logName;
        _options = options;
        _logger = logger;
    }

    /// <summary>The log's name.</summary>
    public string LogName { get; }

    /// <summary>The error that stopped this writer (fenced, ownership lost, a failed write), or null while it can write.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_gate)
            {
                return _error ?? _segment?.Error;
            }
        }
    }

    /// <summary>Txid of the last record written (DistributedLog's <c>getLastTxId</c>).</summary>
    public long LastTxId
    {
        get
        {
            lock (_gate)
            {
                return _lastTxId;
            }
        }
    }

    /// <summary>Opens the writer: takes ownership and recovers the log's in-progress segments.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LockingException">Another writer owns the log (after <see cref="LogWriterOptions.LockTimeout"/>).</exception>
    internal static async Task<AsyncLogWriter> OpenAsync(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, OwnershipLeases leases,
        string logName, LogWriterOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        logName = Naming.LogName.Validate(logName);
        await ns.GetLogAsync(logName, cancellationToken);
        var writer = new AsyncLogWriter(ns, store, ledgers, leases, logName, options, logger);
        try
        {
            if (!options.DisableOwnershipLock)
            {
                await writer.AcquireOwnershipAsync(cancellationToken);
            }

            await LogRecovery.RecoverAsync(ns, store, ledgers, logName, logger, cancellationToken);
            var segments = await ns.GetSegmentsAsync(logName, cancellationToken);
            if (segments.Count > 0)
            {
                var last = segments[^1].Segment;
                writer._nextStartSequenceId = last.StartSequenceId + last.RecordCount;

                // The last segment is normally completed by the recovery above; after a lock-free takeover racing another
                // writer it may be that writer's in-progress one (no last txid yet): its first txid is a floor too.
                writer._lastTxId = segments.Max(s => Math.Max(s.Segment.LastTxId, s.Segment.IsInProgress ? s.Segment.FirstTxId : -1));
            }

            long maxTxId = (await ns.GetLogAsync(logName, cancellationToken)).Log.MaxTxId;
            writer._acceptedTxId = maxTxId == LogRecord.EndOfStreamTxId ? writer._lastTxId : Math.Max(writer._lastTxId, maxTxId);
        }
        catch
        {
            await writer.ReleaseOwnershipAsync();
            throw;
        }

        return writer;
    }

    /// <summary>
    /// Writes a record. Completes with its DLSN once it is durable on the ack quorum; completions arrive in write order.
    /// </summary>
    /// <remarks>
    /// Txids must not decrease (DistributedLog's <c>TransactionIdOutOfOrderException</c>): a record whose txid is below
    /// the highest one this writer accepted (or the log held when it opened) is refused on its own — the writer stays
    /// usable, and the records before it are unaffected. Equal txids are allowed.
    /// </remarks>
    /// <exception cref="TransactionIdOutOfOrderException">A negative txid, <see cref="long.MaxValue"/>, or a txid below the highest one already written.</exception>
    /// <exception cref="LogRecordTooLongException">The record exceeds the maximum record size.</exception>
    /// <exception cref="LogEndOfStreamException">The log was sealed.</exception>
    public ValueTask<Dlsn> WriteAsync(LogRecord record) => WriteAsync(record, out _);

    /// <summary>
    /// Writes a record, telling whether the writer took it: <paramref name="accepted"/> is false when the record was
    /// refused before anything of it was sent (invalid, out of txid order, too long, or the writer had already failed or
    /// closed) — it is then certainly not written. A record that was accepted and later fails has an unknown outcome: its
    /// entry may have reached a bookie, and recovery of the segment by the next writer may keep it.
    /// </summary>
    /// <param name="record">The record.</param>
    /// <param name="accepted">Whether the record was handed to the writer (its outcome is unknown if it fails).</param>
    public ValueTask<Dlsn> WriteAsync(LogRecord record, out bool accepted)
    {
        accepted = false;
        ArgumentNullException.ThrowIfNull(record);
        if (record.TxId < 0 || record.TxId == LogRecord.EndOfStreamTxId)
        {
            return ValueTask.FromException<Dlsn>(new TransactionIdOutOfOrderException(
                $"Txid {record.TxId} is not allowed: txids are non-negative and {LogRecord.EndOfStreamTxId} is reserved for end of stream."));
        }

        if (record.IsControl)
        {
            return ValueTask.FromException<Dlsn>(new ArgumentException("Only user records and record sets can be written (no control flag).", nameof(record)));
        }

        if (record.IsRecordSet)
        {
            // Checked before anything is taken: a malformed set is refused on its own and the writer stays usable.
            try
            {
                _ = RecordSetFormat.ReadCount(record.Payload.Span);
                _ = RecordSetFormat.Validate(record.Payload.Span);
            }
            catch (InvalidEnvelopedEntryException e)
            {
                return ValueTask.FromException<Dlsn>(e);
            }
        }


        if (record.PersistedSize > LogRecord.MaxRecordSize)
        {
            return ValueTask.FromException<Dlsn>(new LogRecordTooLongException(
                $"Record of {record.PersistedSize} bytes exceeds the maximum record size of {LogRecord.MaxRecordSize} bytes."));
        }

        var write = PendingWrite.Rent();
        var task = write.Task;
        lock (_gate)
        {
            if (_error is not null || _closed || _sealed)
            {
                write.Fail(_error ?? (_sealed
                    ? new LogEndOfStreamException($"Log '{LogName}' was sealed with end of stream; no more writes.")
                    : new AlreadyClosedException($"The writer of log '{LogName}' is closed.")));
                return task;
            }

            if (record.TxId < _acceptedTxId)
            {
                write.Fail(new TransactionIdOutOfOrderException(record.TxId, _acceptedTxId));
                return task;
            }

            if (_segment is null || _rolling is not null || NeedsRoll(_segment))
            {
                accepted = true;
                _acceptedTxId = record.TxId;
                write.Track(this, record.PersistedSize);
                _queued.Add((record, write));
                _rolling ??= RollAsync(record.TxId);
                return task;
            }

            // Counted before the segment has it: its entry may be acknowledged on another thread as soon as it does.
            write.Track(this, record.PersistedSize);
            var error = _segment.Write(record, write);
            if (error is not null)
            {
                write.Untrack();
                FailLocked(error);
                write.Fail(_error!);
                return task;
            }

            accepted = true;
            _acceptedTxId = record.TxId;
            _lastTxId = record.TxId;
        }

        return task;
    }

    /// <summary>
    /// Writes a record once the writer has room (<see cref="HasRoom"/>): waits while
    /// <see cref="LogWriterOptions.MaxOutstandingRecords"/> or <see cref="LogWriterOptions.MaxOutstandingBytes"/> are
    /// reached, then behaves as <see cref="WriteAsync(LogRecord)"/>. The wait allocates nothing when there is room.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while waiting for room (the record was not written).</exception>
    public ValueTask<Dlsn> WriteAsync(LogRecord record, CancellationToken cancellationToken)
    {
        if (HasRoom)
        {
            return WriteAsync(record, out _);
        }

        return WriteWhenRoomAsync(record, cancellationToken);
    }

    private async ValueTask<Dlsn> WriteWhenRoomAsync(LogRecord record, CancellationToken cancellationToken)
    {
        await WaitForRoomAsync(cancellationToken);
        return await WriteAsync(record, out _);
    }

    /// <summary>
    /// Writes a record only if the writer has room: returns false (and writes nothing) while the bound on outstanding
    /// writes is reached. <paramref name="write"/> is then default and must not be awaited.
    /// </summary>
    public bool TryWrite(LogRecord record, out ValueTask<Dlsn> write)
    {
        if (!HasRoom)
        {
            write = default;
            return false;
        }

        write = WriteAsync(record, out _);
        return true;
    }

    /// <summary>
    /// Whether a write would be taken at once: fewer than <see cref="LogWriterOptions.MaxOutstandingRecords"/> writes and
    /// <see cref="LogWriterOptions.MaxOutstandingBytes"/> bytes are accepted and not yet acknowledged or failed. (A
    /// record is always taken when nothing is outstanding, however large.)
    /// </summary>
    public bool HasRoom
    {
        get
        {
            long records = Volatile.Read(ref _outstandingRecords);
            return records == 0 || (records < _options.MaxOutstandingRecords && Volatile.Read(ref _outstandingBytes) < _options.MaxOutstandingBytes);
        }
    }

    /// <summary>Writes accepted and not yet acknowledged or failed.</summary>
    public long OutstandingRecords => Volatile.Read(ref _outstandingRecords);

    /// <summary>Completes when <see cref="HasRoom"/> (at once, without allocating, if it already is).</summary>
    public ValueTask WaitForRoomAsync(CancellationToken cancellationToken = default) =>
        HasRoom ? ValueTask.CompletedTask : WaitForRoomSlowAsync(cancellationToken);

    private async ValueTask WaitForRoomSlowAsync(CancellationToken cancellationToken)
    {
        while (!HasRoom)
        {
            var waiter = Volatile.Read(ref _roomWaiter);
            if (waiter is null)
            {
                var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiter = Interlocked.CompareExchange(ref _roomWaiter, fresh, null) ?? fresh;
            }

            // Checked again after publishing the waiter: a completion in between would not have seen it.
            if (HasRoom)
            {
                return;
            }

            await waiter.Task.WaitAsync(cancellationToken);
        }
    }

    internal void OnWriteAccepted(int bytes)
    {
        Interlocked.Increment(ref _outstandingRecords);
        Interlocked.Add(ref _outstandingBytes, bytes);
    }

    internal void OnWriteDone(int bytes)
    {
        Interlocked.Decrement(ref _outstandingRecords);
        Interlocked.Add(ref _outstandingBytes, -bytes);
        if (Volatile.Read(ref _roomWaiter) is not null && HasRoom)
        {
            Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
        }
    }

    /// <summary>
    /// Writes records in order and stops at the first failure: earlier records complete normally, the failing one carries
    /// its error, later ones fail with <see cref="WriteCancelledException"/>.
    /// </summary>
    public async Task<IReadOnlyList<Task<Dlsn>>> WriteBulkAsync(IReadOnlyList<LogRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var results = new List<Task<Dlsn>>(records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            var write = WriteAsync(records[i]);
            if (write.IsFaulted)
            {
                results.Add(write.AsTask());
                for (int j = i + 1; j < records.Count; j++)
                {
                    results.Add(Task.FromException<Dlsn>(new WriteCancelledException(
                        $"Record {j} of the bulk write was not written because record {i} failed.")));
                }

                break;
            }

            results.Add(write.AsTask());
        }

        await Task.WhenAll(results.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
        return results;
    }

    /// <summary>Sends buffered records now and waits until everything written so far is acknowledged.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => FlushAsync(commit: false, cancellationToken);

    /// <summary>
    /// Flushes, then makes everything acknowledged so far visible to readers at once with a control record (instead of
    /// after <see cref="LogWriterOptions.CommitDelay"/>): DistributedLog's heartbeat.
    /// </summary>
    public Task CommitAsync(CancellationToken cancellationToken = default) => FlushAsync(commit: true, cancellationToken);

    private async Task FlushAsync(bool commit, CancellationToken cancellationToken)
    {
        Task? rolling;
        LogSegmentWriter? segment;
        lock (_gate)
        {
            rolling = _rolling;
            segment = _segment;
        }

        if (rolling is not null)
        {
            await rolling.WaitAsync(cancellationToken);
        }

        lock (_gate)
        {
            segment = _segment;
        }

        if (segment is not null)
        {
            await (commit ? segment.CommitAsync(cancellationToken) : segment.FlushAsync(cancellationToken));
        }

        if (_error is not null)
        {
            throw _error;
        }
    }

    private bool NeedsRoll(LogSegmentWriter segment) =>
        segment.Bytes >= _options.MaxSegmentBytes
        || (_options.SegmentRollingInterval is TimeSpan interval && _options.TimeProvider.GetUtcNow() - segment.CreatedAt >= interval);

    /// <summary>Completes the current segment (if any) and starts the next one with the first queued record's txid, then drains the queue.</summary>
    private async Task RollAsync(long firstTxId)
    {
        await Task.Yield();
        try
        {
            LogSegmentWriter? old;
            lock (_gate)
            {
                old = _segment;
                _segment = null;
            }

            if (old is not null)
            {
                await CompleteSegmentAsync(old, CancellationToken.None);
            }

            var started = await StartSegmentAsync(firstTxId, CancellationToken.None);
            lock (_gate)
            {
                _segment = started;
                _rolling = null;
                foreach (var (record, write) in _queued)
                {
                    var error = _error is null ? started.Write(record, write) : _error;
                    if (error is not null)
                    {
                        FailLocked(error);
                        write.Fail(_error!);
                    }
                    else
                    {
                        _lastTxId = record.TxId;
                    }
                }

                _queued.Clear();
            }
        }
        catch (Exception e)
        {
            // Any failure (a metadata deadline surfacing as OperationCanceledException too) fails the queued writes: a
            // roll that ended without failing them would leave them waiting forever.
            lock (_gate)
            {
                FailLocked(e as DlException ?? new DlException(StatusCode.WriteException,
                    $"Starting a new segment of log '{LogName}' failed: {e.Message}", e));
                _rolling = null;
                foreach (var (_, write) in _queued)
                {
                    write.Fail(_error!);
                }

                _queued.Clear();
            }
        }
    }

    private void FailLocked(Exception error)
    {
        if (_error is null)
        {
            _error = error;
            _logger.LogWarning("Writer of log {Log} failed: {Error}", LogName, error.Message);
        }
    }

    /// <summary>Flushes, completes the current segment and releases ownership.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        Task? rolling;
        LogSegmentWriter? segment;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            rolling = _rolling;
        }

        try
        {
            if (rolling is not null)
            {
                await rolling;
            }

            lock (_gate)
            {
                segment = _segment;
                _segment = null;
            }

            if (segment is not null && _error is null)
            {
                await CompleteSegmentAsync(segment, cancellationToken);
            }
            else
            {
                segment?.Abort(_error ?? new AlreadyClosedException($"The writer of log '{LogName}' is closed."));
            }
        }
        finally
        {
            await ReleaseOwnershipAsync();
        }

        if (_error is not null)
        {
            throw _error;
        }
    }

    /// <summary>Stops without completing the segment (the next writer or <c>recover</c> completes it) and releases ownership.</summary>
    public async Task AbortAsync()
    {
        LogSegmentWriter? segment;
        lock (_gate)
        {
            _closed = true;
            segment = _segment;
            _segment = null;
        }

        segment?.Abort(new AlreadyClosedException($"The writer of log '{LogName}' was aborted."));
        await ReleaseOwnershipAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await CloseAsync();
        }
        catch (DlException e)
        {
            _logger.LogDebug("Closing the writer of {Log} on dispose failed: {Error}", LogName, e.Message);
        }
    }

    private static string WriterId() => $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    private static byte[] Serialize(LogSegmentMetadata segment) => JsonSerializer.SerializeToUtf8Bytes(segment, LogMetadataJson.Default.LogSegmentMetadata);

    private static byte[] Serialize(LogMetadata log) => JsonSerializer.SerializeToUtf8Bytes(log, LogMetadataJson.Default.LogMetadata);
}
