using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Readers;

/// <summary>The read-ahead loop (one background task) and the segment watch of a <see cref="LogReader"/>.</summary>
public sealed partial class LogReader
{
    /// <summary>Payloads that cannot point into their entry (compressed entries) are copied into chunks of this size.</summary>
    private const int ArenaChunkSize = 64 * 1024;

    private readonly NamespaceMetadata _ns;
    private readonly LedgerClient _ledgers;
    private readonly IMetadataStore _store;
    private readonly StartPlan _plan;

    // Read-ahead state: used by the read-ahead task only.
    private readonly EntryReader _decoder = new();
    private readonly List<LogRecordWithDlsn> _decoded = [];
    private List<LogSegmentMetadata> _segments;
    private long _listedVersion;
    private long _listedAt;
    private bool _skipping = true;
    private byte[] _arena = [];
    private int _arenaUsed;
    private Task _pump = Task.CompletedTask;
    private Task _watchLoop = Task.CompletedTask;

    // Segment-change signal: raised by the watch, awaited by the read-ahead at the tail.
    private readonly Lock _signalGate = new();
    private long _signalVersion;
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Start(IMetadataWatch watch)
    {
        _pump = PumpAsync(_stop.Token);
        _watchLoop = WatchLoopAsync(watch, _stop.Token);
    }

    private async Task PumpAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            long minLssn = _plan.StartLssn;
            bool first = true;
            while (true)
            {
                var segment = FindSegment(minLssn, exact: false);
                if (segment is null)
                {
                    if (await WaitForNewSegmentAsync(minLssn, cancellationToken))
                    {
                        return;
                    }

                    continue;
                }

                long startEntry = 0;
                LedgerReader? ledger = null;
                if (first && segment.Lssn == _plan.StartLssn)
                {
                    startEntry = _plan.StartEntry;
                    ledger = _plan.StartLedger;
                }
                else if (!first)
                {
                    CheckNotTruncated(segment);
                }

                first = false;
                if (await ReadSegmentAsync(segment, ledger, startEntry, cancellationToken))
                {
                    return;
                }

                minLssn = segment.Lssn + 1;
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            _queue.Complete(new ObjectDisposedException(nameof(LogReader)));
        }
        catch (Exception e)
        {
            _queue.Complete(e);
        }
    }

    /// <summary>Reads one segment from <paramref name="next"/> to its end; returns true at the end-of-stream record.</summary>
    private async Task<bool> ReadSegmentAsync(LogSegmentMetadata segment, LedgerReader? ledger, long next, CancellationToken cancellationToken)
    {
        long lssn = segment.Lssn;
        ledger ??= await _ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
        while (true)
        {
            long limit = SegmentReads.LastReadableEntry(segment, ledger);
            if (next <= limit)
            {
                int room = await _queue.WaitForSpaceAsync(cancellationToken);
                long last = Math.Min(limit, next + room - 1);
                if (await ReadEntriesAsync(segment, ledger, next, last, cancellationToken))
                {
                    return true;
                }

                next = last + 1;
                continue;
            }

            if (!segment.IsInProgress)
            {
                return false;
            }

            // At the tail of the in-progress segment: re-list when the watch fired or the poll interval passed (the segment
            // may have been completed), else long-poll for the next entry, woken early by the watch.
            await _queue.WaitForSpaceAsync(cancellationToken);
            var (version, changed) = SignalSnapshot();
            if (version != _listedVersion || _time.GetElapsedTime(_listedAt) >= _options.SegmentPollInterval)
            {
                if (await TryRelistAsync(cancellationToken))
                {
                    segment = FindSegment(lssn, exact: true) ?? throw await SegmentGoneAsync(lssn, cancellationToken);
                }

                continue;
            }

            long polled = _time.GetTimestamp();
            var entry = await LongPollAsync(ledger, next, changed, cancellationToken);
            if (entry is not null)
            {
                if (Decode(segment, entry))
                {
                    return true;
                }

                next++;
            }
            else if (!changed.IsCompleted && _time.GetElapsedTime(polled) < _options.LongPollTimeout / 2)
            {
                // The bookies answered at once without the entry (unreachable, ledger gone or already closed while the
                // listing is stale): pause instead of spinning until the next re-listing tells what happened.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100, _options.LongPollTimeout.TotalMilliseconds / 2)), _time, cancellationToken);
            }
        }
    }

    /// <summary>Reads entries <paramref name="first"/>..<paramref name="last"/> in parallel and decodes them in order; true at end of stream.</summary>
    private async Task<bool> ReadEntriesAsync(LogSegmentMetadata segment, LedgerReader ledger, long first, long last, CancellationToken cancellationToken)
    {
        if (first == last)
        {
            return Decode(segment, await ledger.ReadEntryAsync(first, cancellationToken));
        }

        // Completed segments are read by entry id, not against the LAC: their last entry id is final.
        var reads = new Task<LedgerEntry>[checked((int)(last - first + 1))];
        for (int i = 0; i < reads.Length; i++)
        {
            reads[i] = ledger.ReadEntryAsync(first + i, cancellationToken);
        }

        int awaited = 0;
        try
        {
            while (awaited < reads.Length)
            {
                var entry = await reads[awaited++];
                if (Decode(segment, entry))
                {
                    return true;
                }
            }

            return false;
        }
        finally
        {
            for (int i = awaited; i < reads.Length; i++)
            {
                _ = reads[i].ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Long-polls entry <paramref name="entryId"/>; returns null on timeout or when the segments changed meanwhile.</summary>
    private async Task<LedgerEntry?> LongPollAsync(LedgerReader ledger, long entryId, Task changed, CancellationToken cancellationToken)
    {
        using var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var read = ledger.WaitForEntryAsync(entryId, _options.LongPollTimeout, poll.Token);
        if (await Task.WhenAny(read, changed) == read)
        {
            var entry = await read;
            cancellationToken.ThrowIfCancellationRequested();
            return entry;
        }

        await poll.CancelAsync();
        try
        {
            _ = await read;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // The poll was abandoned; whatever it returned is read again after the re-listing.
        }

        cancellationToken.ThrowIfCancellationRequested();
        return null;
    }

    /// <summary>
    /// Decodes one entry: user records at or after the start position go to the queue (control records never do); returns
    /// true at the end-of-stream record, after queueing the records before it and ending the queue.
    /// </summary>
    private bool Decode(LogSegmentMetadata segment, LedgerEntry entry)
    {
        // Any entry read (user records, or only a commit or keep-alive control record) shows the writer is alive.
        Volatile.Write(ref _lastEntryRead, _time.GetTimestamp());
        Interlocked.Increment(ref _entriesRead);
        ReadOnlyMemory<byte> memory = entry.Payload;
        ReadOnlySpan<byte> span = memory.Span;
        long lssn = segment.Lssn;
        long startSequenceId = segment.StartSequenceId;
        bool endOfStream = false;
        var endDlsn = default(Dlsn);
        foreach (var view in _decoder.Read(span))
        {
            if (view.IsControl)
            {
                if (view.IsEndOfStream)
                {
                    endOfStream = true;
                    endDlsn = view.GetDlsn(lssn, entry.EntryId);
                    break;
                }

                continue;
            }

            var dlsn = view.GetDlsn(lssn, entry.EntryId);
            if (_skipping)
            {
                if (dlsn < _plan.MinDlsn || view.TxId < _plan.MinTxId)
                {
                    continue;
                }

                _skipping = false;
            }

            _decoded.Add(new LogRecordWithDlsn(dlsn, view.GetSequenceId(startSequenceId), view.PositionWithinSegment, view.TxId, view.Flags,
                PayloadOf(memory, span, view.Payload)));
        }

        _queue.Add(_decoded, span.Length);
        _decoded.Clear();
        if (endOfStream)
        {
            _queue.Complete(new LogEndOfStreamException(
                $"Log '{LogName}' has ended: its end-of-stream record is at {endDlsn}; no record follows it."));
        }

        return endOfStream;
    }

    /// <summary>A record's payload without a copy when it lies inside the entry; otherwise copied into the arena.</summary>
    private ReadOnlyMemory<byte> PayloadOf(ReadOnlyMemory<byte> entry, ReadOnlySpan<byte> entrySpan, ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        if (entrySpan.Overlaps(payload, out int offset) && offset >= 0 && offset <= entrySpan.Length - payload.Length)
        {
            return entry.Slice(offset, payload.Length);
        }

        if (_arena.Length - _arenaUsed < payload.Length)
        {
            _arena = new byte[Math.Max(ArenaChunkSize, payload.Length)];
            _arenaUsed = 0;
        }

        payload.CopyTo(_arena.AsSpan(_arenaUsed));
        var copy = new ReadOnlyMemory<byte>(_arena, _arenaUsed, payload.Length);
        _arenaUsed += payload.Length;
        return copy;
    }

    /// <summary>The first listed segment with LSSN ≥ <paramref name="lssn"/> (or exactly <paramref name="lssn"/>).</summary>
    private LogSegmentMetadata? FindSegment(long lssn, bool exact)
    {
        foreach (var segment in _segments)
        {
            if (segment.Lssn == lssn || (!exact && segment.Lssn > lssn))
            {
                return segment;
            }
        }

        return null;
    }

    /// <summary>A segment the reader moves into after the start must not be truncated: the reader fell behind truncation.</summary>
    private void CheckNotTruncated(LogSegmentMetadata segment)
    {
        if (segment.Truncation == TruncationStatus.Truncated || SegmentReads.MinActiveDlsn(segment) > new Dlsn(segment.Lssn, 0, 0))
        {
            throw new TruncatedPositionException(
                $"Reader of log '{LogName}' reached segment {segment.Lssn}, which was truncated ({segment.Truncation}) before it was read.");
        }
    }

    /// <summary>
    /// No segment at or after <paramref name="minLssn"/> yet: waits for a watch event or the poll interval, then re-lists.
    /// Returns true when the log turned out to be sealed (end of stream marked, nothing more to come).
    /// </summary>
    private async Task<bool> WaitForNewSegmentAsync(long minLssn, CancellationToken cancellationToken)
    {
        var (version, changed) = SignalSnapshot();
        var remaining = _options.SegmentPollInterval - _time.GetElapsedTime(_listedAt);
        if (version == _listedVersion && remaining > TimeSpan.Zero)
        {
            using var delay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(changed, Task.Delay(remaining, _time, delay.Token));
            await delay.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (!await TryRelistAsync(cancellationToken) || FindSegment(minLssn, exact: false) is not null)
        {
            return false;
        }

        // Still nothing: a deleted log fails the reader; a sealed one ends it.
        var (log, _) = await _ns.GetLogAsync(LogName, cancellationToken);
        if (log.MaxTxId == LogRecord.EndOfStreamTxId)
        {
            _queue.Complete(new LogEndOfStreamException($"Log '{LogName}' has ended (end of stream marked); no record follows the reader's position."));
            return true;
        }

        return false;
    }

    /// <summary>Re-lists the segments. A transient metadata error is waited out (returns false) rather than failing the reader.</summary>
    private async Task<bool> TryRelistAsync(CancellationToken cancellationToken)
    {
        var (version, _) = SignalSnapshot();
        long at = _time.GetTimestamp();
        try
        {
            _segments = await ListSegmentsAsync(_ns, LogName, cancellationToken);
        }
        catch (DlException e) when (e.IsRetryable)
        {
            _listedAt = at;
            await Task.Delay(_options.LongPollTimeout, _time, cancellationToken);
            return false;
        }

        _listedVersion = version;
        _listedAt = at;
        return true;
    }

    private async Task<Exception> SegmentGoneAsync(long lssn, CancellationToken cancellationToken)
    {
        if (!await _ns.LogExistsAsync(LogName, cancellationToken))
        {
            return new LogNotFoundException($"Log '{LogName}' was deleted while being read.");
        }

        return new LogSegmentNotFoundException(
            $"Segment {lssn} of log '{LogName}' was deleted while being read (truncated and purged); the reader fell behind retention.");
    }

    private (long Version, Task Changed) SignalSnapshot()
    {
        lock (_signalGate)
        {
            return (_signalVersion, _signal.Task);
        }
    }

    private void SignalSegmentsChanged()
    {
        TaskCompletionSource fired;
        lock (_signalGate)
        {
            _signalVersion++;
            fired = _signal;
            _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        fired.TrySetResult();
    }

    /// <summary>
    /// Follows the log's segments prefix and raises the change signal on every event. A lost watch (or an unreachable store)
    /// is re-established after a pause; the signal makes the read-ahead re-list, so nothing is missed.
    /// </summary>
    private async Task WatchLoopAsync(IMetadataWatch? watch, CancellationToken cancellationToken)
    {
        await Task.Yield();
        string prefix = _ns.Layout.Segments(LogName);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (watch is null)
                {
                    watch = await _store.WatchAsync(prefix, isPrefix: true, cancellationToken);
                    SignalSegmentsChanged();
                }

                await foreach (var _ in watch.WithCancellation(cancellationToken))
                {
                    SignalSegmentsChanged();
                }

                return;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // Lost or unreachable: the poll interval covers the gap, and re-listing after the new watch catches up.
                SignalSegmentsChanged();
            }
            finally
            {
                if (watch is not null)
                {
                    try
                    {
                        await watch.DisposeAsync();
                    }
                    catch (Exception) when (watch is not null)
                    {
                        // A watch that fails to close is abandoned; a new one is opened if needed.
                    }

                    watch = null;
                }
            }

            try
            {
                await Task.Delay(_options.SegmentPollInterval, _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
