using System.Globalization;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Writers;

public sealed partial class AsyncLogWriter
{
    /// <summary>
    /// Starts segment N+1: checks the txid against the log's max txid, creates the ledger, then in one transaction raises
    /// the log's max LSSN and creates the in-progress segment record (so two writers can never both start segment N+1).
    /// </summary>
    private async Task<LogSegmentWriter> StartSegmentAsync(long firstTxId, CancellationToken cancellationToken)
    {
        await ThrowIfLockLostAsync(cancellationToken);

        // Another writer's segment may be in progress (it started after our recovery: a takeover without the lock, or a
        // previous owner's roll that was still under way). Recover (fence) it first: a log never has two in-progress
        // segments. The log record is read before the segments: a segment created after that read changes the log's
        // version, so the compare-and-set below fails instead of starting a second in-progress segment.
        var (log, version) = await _namespace.GetLogAsync(LogName, cancellationToken);
        var segments = await _namespace.GetSegmentsAsync(LogName, cancellationToken);
        if (segments.Count > 0 && segments[^1].Segment.IsInProgress)
        {
            _logger.LogInformation("Log {Log}: segment {Lssn} of another writer is in progress; recovering it before starting a new one",
                LogName, segments[^1].Segment.Lssn);
            await LogRecovery.RecoverAsync(_namespace, _store, _ledgers, LogName, _logger, cancellationToken);
            (log, version) = await _namespace.GetLogAsync(LogName, cancellationToken);
            segments = await _namespace.GetSegmentsAsync(LogName, cancellationToken);
        }

        if (segments.Count > 0)
        {
            var previous = segments[^1].Segment;
            _nextStartSequenceId = previous.StartSequenceId + previous.RecordCount;
        }

        if (log.MaxTxId == LogRecord.EndOfStreamTxId)
        {
            throw new LogEndOfStreamException($"Log '{LogName}' was sealed with end of stream; no more writes.");
        }

        if (firstTxId < log.MaxTxId)
        {
            throw new TransactionIdOutOfOrderException(
                $"Cannot start a new segment of log '{LogName}' at txid {firstTxId}: the log already holds txid {log.MaxTxId}.");
        }

        long lssn = log.MaxLssn + 1;
        var ledger = await _ledgers.CreateLedgerAsync(_options.EnsembleSize, _options.WriteQuorumSize, _options.AckQuorumSize,
            new Dictionary<string, string> { ["log"] = LogName, ["lssn"] = lssn.ToString(CultureInfo.InvariantCulture) }, cancellationToken);
        var segment = new LogSegmentMetadata
        {
            Lssn = lssn,
            LedgerId = ledger.LedgerId,
            FirstTxId = firstTxId,
            StartSequenceId = _nextStartSequenceId,
            CreatedAt = _options.TimeProvider.GetUtcNow(),
        };
        string logKey = _namespace.Layout.Log(LogName);
        string segmentKey = _namespace.Layout.Segment(LogName, lssn);
        var transaction = new MetadataTransaction()
            .IfVersion(logKey, version)
            .IfAbsent(segmentKey)
            .Put(logKey, Serialize(log with { MaxLssn = lssn }))
            .Put(segmentKey, Serialize(segment));
        if (_lockVersion != 0)
        {
            // Only the owner may start a segment: its own lock key (the version it created) must still exist. A writer that
            // lost or released the lock while a roll was under way fails here, even when a new owner holds the key again.
            transaction.IfVersion(_namespace.Layout.Lock(LogName), _lockVersion);
        }

        if (!(await _store.CommitAsync(transaction, cancellationToken)).Succeeded)
        {
            await ledger.DisposeAsync();
            await _ledgers.DeleteLedgerAsync(ledger.LedgerId, CancellationToken.None);
            throw new LockingException($"Log '{LogName}' changed while this writer started segment {lssn}: another writer took over.");
        }

        _logger.LogDebug("Log {Log}: started segment {Lssn} on ledger {Ledger} at txid {TxId}", LogName, lssn, ledger.LedgerId, firstTxId);
        return new LogSegmentWriter(ledger, lssn, _nextStartSequenceId, _options);
    }

    /// <summary>Flushes and closes the segment's ledger, then records the completed segment and the log's max txid (one transaction).</summary>
    /// <summary>
    /// Refuses to go on when this writer's lock key is gone or is another writer's (it lost or released the lock while a
    /// roll was under way): before it would recover, and so fence, the segment of the writer that owns the log now.
    /// </summary>
    private async Task ThrowIfLockLostAsync(CancellationToken cancellationToken)
    {
        if (_lockVersion != 0 && (await _store.GetAsync(_namespace.Layout.Lock(LogName), cancellationToken))?.Version != _lockVersion)
        {
            throw new LockingException($"The writer of log '{LogName}' no longer holds its lock (released, expired or taken over); it starts no segment.");
        }
    }

    private async Task CompleteSegmentAsync(LogSegmentWriter writer, CancellationToken cancellationToken)
    {
        var end = await writer.CompleteAsync(cancellationToken);
        await LogRecovery.CompleteSegmentRecordAsync(_namespace, _store, LogName, writer.Lssn, end, _options.TimeProvider, cancellationToken);
        _nextStartSequenceId = writer.StartSequenceId + end.RecordCount;
        _logger.LogDebug("Log {Log}: completed segment {Lssn} at entry {Entry} ({Records} records)", LogName, writer.Lssn, end.LastEntryId, end.RecordCount);
    }

    /// <summary>
    /// Seals the log: writes an end-of-stream record, completes the segment and sets the log's max txid to
    /// <see cref="long.MaxValue"/>. Afterwards every write fails with <see cref="LogEndOfStreamException"/>. Idempotent.
    /// Returns the end-of-stream txid.
    /// </summary>
    public async Task<long> MarkEndOfStreamAsync(CancellationToken cancellationToken = default)
    {
        var (log, _) = await _namespace.GetLogAsync(LogName, cancellationToken);
        if (log.MaxTxId == LogRecord.EndOfStreamTxId)
        {
            return LogRecord.EndOfStreamTxId;
        }

        await FlushAsync(cancellationToken);
        LogSegmentWriter? segment;
        lock (_gate)
        {
            segment = _segment;
            _segment = null;
        }

        segment ??= await StartSegmentAsync(Math.Max(_lastTxId, log.MaxTxId), cancellationToken);
        if (segment.WriteEndOfStream() is Exception error)
        {
            throw error;
        }

        var end = await segment.CompleteAsync(cancellationToken);
        await LogRecovery.CompleteSegmentRecordAsync(_namespace, _store, LogName, segment.Lssn, end, _options.TimeProvider, cancellationToken,
            endOfStream: true);
        lock (_gate)
        {
            _sealed = true;
        }

        return LogRecord.EndOfStreamTxId;
    }

    /// <summary>
    /// Truncates the log before <paramref name="dlsn"/> (completed segments only; see <see cref="LogTruncation"/>). Returns
    /// false for <see cref="Dlsn.Invalid"/>. Everything this writer had acknowledged is made visible first, so any DLSN it
    /// returned is a valid truncation point.
    /// </summary>
    /// <exception cref="DlException">BAD_REQUEST: <paramref name="dlsn"/> is beyond the log's last record.</exception>
    public async Task<bool> TruncateAsync(Dlsn dlsn, CancellationToken cancellationToken = default)
    {
        if (dlsn != Dlsn.Invalid && Failure is null)
        {
            await CommitAsync(cancellationToken);
        }

        return await LogTruncation.TruncateAsync(_namespace, _store, _ledgers, LogName, dlsn, cancellationToken);
    }
}
