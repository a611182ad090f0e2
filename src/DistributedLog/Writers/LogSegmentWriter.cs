using DistributedLog.Ledgers.Handles;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Writers;

/// <summary>What a completed segment records (see the segment contract in docs/architecture.md).</summary>
/// <param name="LastEntryId">Last entry of the ledger (-1: none).</param>
/// <param name="LastSlotId">Slot of the last record in that entry (-1: none).</param>
/// <param name="LastTxId">Txid of the last user record (-1: none).</param>
/// <param name="RecordCount">User records in the segment.</param>
internal readonly record struct SegmentEnd(long LastEntryId, long LastSlotId, long LastTxId, long RecordCount);

/// <summary>
/// Writes records into the ledger of one in-progress segment: packs them into entries (by output-buffer size, flush
/// interval or immediately), sends each entry as one ledger add, and completes every record's DLSN
/// <c>(lssn, entryId, slot)</c> strictly in write order once its entry is acknowledged. When writes pause it sends a
/// control record so the ledger's LAC covers the last user entry. A failed add fails every pending and later write.
/// </summary>
internal sealed class LogSegmentWriter : ILedgerAddCallback
{
    private readonly LedgerHandle _ledger;
    private readonly LogWriterOptions _options;
    private readonly object _gate = new();
    private readonly EntryWriter _buffer = new();
    private readonly Queue<Transmitted> _inFlight = new();
    private readonly ITimer _flushTimer;
    private readonly ITimer _commitTimer;
    private readonly ITimer? _keepAliveTimer;
    private long _lastTransmit;
    private List<PendingWrite> _bufferWrites = [];
    private List<int>? _bufferSlotStarts; // first slot of each buffered write; null while every write takes one slot
    private int _position;
    private long _lastTxId = -1;
    private long _bytes;
    private long _lastEntryId = -1;
    private long _lastSlotId = -1;
    // A user entry was acknowledged and no entry has been sent since: the LAC that makes it visible is on no bookie yet.
    // (Every entry sent carries the ledger's LAC, which covers every entry acknowledged to this writer.)
    private bool _ackedNotPublished;
    private bool _flushArmed;
    private int _userInFlight;
    private Exception? _error;
    private bool _completing;
    private List<(Transmitted Entry, TaskCompletionSource Barrier)>? _barriers;
    private TaskCompletionSource? _drained;
    private Transmitted? _newest; // the entry sent last

    public LogSegmentWriter(LedgerHandle ledger, long lssn, long startSequenceId, LogWriterOptions options)
    {
        _ledger = ledger;
        Lssn = lssn;
        StartSequenceId = startSequenceId;
        _options = options;
        CreatedAt = options.TimeProvider.GetUtcNow();
        _flushTimer = options.TimeProvider.CreateTimer(static s => ((LogSegmentWriter)s!).OnTimer(commit: false), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _commitTimer = options.TimeProvider.CreateTimer(static s => ((LogSegmentWriter)s!).OnTimer(commit: true), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _lastTransmit = options.TimeProvider.GetTimestamp();
        if (options.KeepAliveInterval is { } keepAlive && keepAlive > TimeSpan.Zero)
        {
            _keepAliveTimer = options.TimeProvider.CreateTimer(static s => ((LogSegmentWriter)s!).OnKeepAliveTimer(), this, keepAlive, Timeout.InfiniteTimeSpan);
        }
    }

    public long Lssn { get; }

    public long StartSequenceId { get; }

    public long LedgerId => _ledger.LedgerId;

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Bytes written into the segment so far (for size-based rolling).</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    /// <summary>The error that stopped this segment, if any.</summary>
    public Exception? Error
    {
        get
        {
            lock (_gate)
            {
                return _error;
            }
        }
    }

    /// <summary>Adds a user record; <paramref name="write"/> completes with its DLSN. Returns the error instead if the segment failed.</summary>
    public Exception? Write(LogRecord record, PendingWrite write)
    {
        lock (_gate)
        {
            if (_error is not null || _completing)
            {
                return _error ?? new InvalidOperationException("The segment is being completed.");
            }

            int position = _position + 1;
            int firstSlot = _buffer.SlotCount;
            if (!_buffer.TryAdd(record.TxId, record.Flags, record.Payload.Span, position))
            {
                TransmitLocked();
                firstSlot = _buffer.SlotCount;
                if (!_buffer.TryAdd(record.TxId, record.Flags, record.Payload.Span, position))
                {
                    return new Protocol.Errors.LogRecordTooLongException($"Record of {record.PersistedSize} bytes does not fit in an entry.");
                }
            }

            // A record set takes one slot and one position per inner record.
            int slots = _buffer.SlotCount - firstSlot;
            if (slots != 1 || _bufferSlotStarts is not null)
            {
                if (_bufferSlotStarts is null)
                {
                    _bufferSlotStarts = new List<int>(_bufferWrites.Count + 1);
                    for (int i = 0; i < _bufferWrites.Count; i++)
                    {
                        _bufferSlotStarts.Add(i);
                    }
                }

                _bufferSlotStarts.Add(firstSlot);
            }

            _position = position + slots - 1;
            _lastTxId = record.TxId;
            _bytes += record.PersistedSize;
            _bufferWrites.Add(write);
            // Sent at once when asked to, when the entry is full, or (Nagle-style) while the pipeline has room: an idle log
            // sends without waiting for the flush timer, a busy one batches what arrives while its entries are in flight.
            if (_options.ImmediateFlush || _buffer.EstimatedSize >= _options.OutputBufferSize || _userInFlight < _options.EagerFlushBelow)
            {
                TransmitLocked();
            }
            else if (!_flushArmed)
            {
                _flushArmed = true;
                _flushTimer.Change(_options.FlushInterval, Timeout.InfiniteTimeSpan);
            }

            return null;
        }
    }

    /// <summary>Sends what is buffered and completes once every entry sent so far is acknowledged (or failed).</summary>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            TransmitLocked();
            if (_inFlight.Count == 0)
            {
                return _error is null ? Task.CompletedTask : Task.FromException(_error);
            }

            var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (_barriers ??= []).Add((_newest!, barrier));
            return barrier.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Makes every record acknowledged before the call visible to readers: waits for what is sent, then writes a
    /// control record, whose add carries the last-add-confirmed past them, and waits for it (DistributedLog's heartbeat).
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        lock (_gate)
        {
            if (_completing || _error is not null)
            {
                return;
            }

            if (_ackedNotPublished)
            {
                TransmitLocked();
                _buffer.TryAdd(_lastTxId, LogRecordFlags.Control, LogRecord.ControlPayload, _position);
                TransmitLocked(user: false);
            }
        }

        // Also when nothing was sent here: an entry sent since the first flush (an eager send on an acknowledgement) may
        // be the one whose LAC covers what was acknowledged before the call.
        await FlushAsync(cancellationToken);
    }

    /// <summary>Writes an end-of-stream record alone in its entry (after sending what is buffered).</summary>
    public Exception? WriteEndOfStream()
    {
        lock (_gate)
        {
            if (_error is not null)
            {
                return _error;
            }

            TransmitLocked();
            var eos = LogRecord.CreateEndOfStream();
            _buffer.TryAdd(eos.TxId, eos.Flags, eos.Payload.Span, _position);
            TransmitLocked(user: false);
            return null;
        }
    }

    /// <summary>
    /// Sends what is buffered, waits until every entry is acknowledged, closes the ledger and returns what the completed
    /// segment records. Throws the segment's error if it failed.
    /// </summary>
    public async Task<SegmentEnd> CompleteAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_gate)
        {
            _completing = true;
            _flushTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _commitTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _keepAliveTimer?.Dispose();
            if (_error is null)
            {
                TransmitLocked();
            }

            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inFlight.Count == 0)
            {
                _drained.TrySetResult();
            }

            drained = _drained.Task;
        }

        await drained.WaitAsync(cancellationToken);
        if (Error is Exception error)
        {
            throw error;
        }

        await _ledger.CloseAsync(cancellationToken);
        lock (_gate)
        {
            return new SegmentEnd(_lastEntryId, _lastSlotId, _lastTxId, _position);
        }
    }

    /// <summary>Stops timers and fails whatever is buffered or in flight (the writer was aborted or lost ownership).</summary>
    public void Abort(Exception error)
    {
        lock (_gate)
        {
            _completing = true;
            _flushTimer.Dispose();
            _commitTimer.Dispose();
            _keepAliveTimer?.Dispose();
            FailLocked(error);
        }
    }

    /// <summary>A timer callback must never throw (it would end the process): an unexpected error fails the segment instead.</summary>
    private void OnTimer(bool commit)
    {
        try
        {
            if (commit)
            {
                OnCommitTimer();
            }
            else
            {
                OnFlushTimer();
            }
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                FailLocked(e);
            }
        }
    }

    /// <summary>
    /// DistributedLog's periodic keep-alive: after <see cref="LogWriterOptions.KeepAliveInterval"/> with nothing sent,
    /// writes a keep-alive control record (its add also carries the LAC past the last entry). Nothing is sent while an
    /// entry is still unacknowledged: a writer stuck on its bookies is stalled, and readers should see it so.
    /// </summary>
    private void OnKeepAliveTimer()
    {
        try
        {
            lock (_gate)
            {
                if (_completing || _error is not null || _keepAliveTimer is null || _options.KeepAliveInterval is not { } interval)
                {
                    return;
                }

                TimeSpan idle = _options.TimeProvider.GetElapsedTime(_lastTransmit);
                if (idle >= interval && _buffer.Count == 0 && _inFlight.Count == 0)
                {
                    _buffer.TryAdd(_lastTxId, LogRecordFlags.Control, LogRecord.KeepAlivePayload, _position);
                    TransmitLocked(user: false);
                    idle = TimeSpan.Zero;
                }

                _keepAliveTimer.Change(idle >= interval ? interval : interval - idle, Timeout.InfiniteTimeSpan);
            }
        }
        catch (ObjectDisposedException)
        {
            // The timer was disposed while this callback ran (the segment completed or was aborted).
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                FailLocked(e);
            }
        }
    }

    private void OnFlushTimer()
    {
        lock (_gate)
        {
            _flushArmed = false;
            if (!_completing)
            {
                TransmitLocked();
            }
        }
    }

    private void OnCommitTimer()
    {
        lock (_gate)
        {
            // Nothing written for a while: make the last user entries visible to readers with a control record once they
            // are acknowledged (until then, look again later).
            bool unpublished = _ackedNotPublished || _userInFlight > 0 || _buffer.Count > 0;
            if (_completing || _error is not null || !unpublished)
            {
                return;
            }

            if (_buffer.Count > 0 || _inFlight.Count > 0)
            {
                _commitTimer.Change(_options.CommitDelay, Timeout.InfiniteTimeSpan);
                return;
            }

            _buffer.TryAdd(_lastTxId, LogRecordFlags.Control, LogRecord.ControlPayload, _position);
            TransmitLocked(user: false);
        }
    }

    private void TransmitLocked(bool user = true)
    {
        if (_buffer.Count == 0 || _error is not null)
        {
            return;
        }

        int slots = _buffer.SlotCount;
        int size = _buffer.EstimatedSize;
        _lastTransmit = _options.TimeProvider.GetTimestamp();
        // Each entry owns its list: writes buffered after it must never complete with its DLSNs.
        var writes = _bufferWrites;
        _bufferWrites = new List<PendingWrite>(Math.Max(4, writes.Count));
        var slotStarts = _bufferSlotStarts;
        _bufferSlotStarts = null;
        _ackedNotPublished = false; // this entry carries the ledger's LAC past every entry acknowledged so far
        var transmitted = new Transmitted(writes, slots, user) { SlotStarts = slotStarts };
        // The entry is sealed straight into the ledger's pooled buffer it is sent from (no copy on its way to the bookies);
        // the ledger calls OnAddCompleted for each entry in entry order, never from inside this call.
        var refused = _ledger.AddEntry(size, static (destination, s) => s.Buffer.Seal(s.Codec, destination), (Buffer: _buffer, Codec: _options.Compression),
            this, transmitted);
        _buffer.Reset();
        if (refused is not null)
        {
            // The ledger failed or is closing: every entry still in flight fails too (delivered by the ledger in order).
            FailLocked(refused);
            foreach (var write in writes)
            {
                write.Fail(_error!);
            }

            return;
        }

        if (user)
        {
            _userInFlight++;
        }

        _inFlight.Enqueue(transmitted);
        _newest = transmitted;
        if (user)
        {
            _commitTimer.Change(_options.CommitDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// The ledger's in-order completion of one entry (<see cref="ILedgerAddCallback"/>): the entry is the head of the
    /// in-flight queue, so its records complete here in write order — the only ordering this writer needs.
    /// </summary>
    void ILedgerAddCallback.OnAddCompleted(long entryId, Exception? error, object? state)
    {
        var entry = (Transmitted)state!;
        lock (_gate)
        {
            if (!_inFlight.TryPeek(out var head) || !ReferenceEquals(head, entry))
            {
                // Cannot happen while the ledger keeps its contract; failing loudly beats completing the wrong records.
                FailLocked(new InvalidOperationException($"Ledger {LedgerId} completed entry {entryId} out of order."));
                foreach (var write in entry.Writes)
                {
                    write.Fail(_error!);
                }

                return;
            }

            _inFlight.Dequeue();
            if (entry.IsUser)
            {
                _userInFlight--;
            }

            if (error is not null || _error is not null)
            {
                FailLocked(error ?? _error!);
                foreach (var write in entry.Writes)
                {
                    write.Fail(_error!);
                }
            }
            else
            {
                _lastEntryId = entryId;
                _lastSlotId = entry.Slots - 1;
                if (entry.IsUser)
                {
                    _ackedNotPublished = true;
                }

                var writes = entry.Writes;
                var starts = entry.SlotStarts;
                for (int i = 0; i < writes.Count; i++)
                {
                    writes[i].Complete(new Dlsn(Lssn, entryId, starts?[i] ?? i));
                }

                // Room in the pipeline again: send what accumulated meanwhile (its entry carries the LAC just advanced, which
                // is what makes the acknowledged entry visible to tailing readers) instead of waiting for the flush timer.
                if (_buffer.Count > 0 && _userInFlight < _options.EagerFlushBelow && !_completing)
                {
                    TransmitLocked();
                }
                else if (_options.CommitOnIdle && _buffer.Count == 0 && _userInFlight == 0 && _ackedNotPublished && !_completing)
                {
                    // Everything written is acknowledged and nothing follows: a control record carries the LAC to the bookies
                    // now, so tailing readers see the last entries one round trip later instead of after the commit delay.
                    _buffer.TryAdd(_lastTxId, LogRecordFlags.Control, LogRecord.ControlPayload, _position);
                    TransmitLocked(user: false);
                }
            }

            if (_barriers is not null)
            {
                // A barrier waits for the entry that was last when it was set: it is released when that entry is done.
                for (int i = _barriers.Count - 1; i >= 0; i--)
                {
                    var (last, barrier) = _barriers[i];
                    if (ReferenceEquals(last, entry) || _error is not null)
                    {
                        if (_error is null)
                        {
                            barrier.TrySetResult();
                        }
                        else
                        {
                            barrier.TrySetException(_error);
                        }

                        _barriers.RemoveAt(i);
                    }
                }
            }

            if (_inFlight.Count == 0)
            {
                _drained?.TrySetResult();
            }
        }
    }

    private void FailLocked(Exception error)
    {
        if (_error is not null)
        {
            return;
        }

        _error = error;
        foreach (var write in _bufferWrites)
        {
            write.Fail(error);
        }

        _bufferWrites = [];
        _bufferSlotStarts = null;
        _buffer.Reset();
    }

    /// <summary>An entry sent to the ledger and the writes whose records it holds (slot i = Writes[i]).</summary>
    private sealed class Transmitted(List<PendingWrite> writes, int slots, bool isUser)
    {
        public List<PendingWrite> Writes { get; } = writes;

        public bool IsUser { get; } = isUser;

        public int Slots { get; } = slots;

        /// <summary>First slot of each write when the entry holds a record set (null: write i is at slot i).</summary>
        public List<int>? SlotStarts { get; init; }

    }
}
