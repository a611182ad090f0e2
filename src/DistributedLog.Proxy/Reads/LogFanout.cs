using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;

namespace DistributedLog.Proxy.Reads;

/// <summary>What a <see cref="FanoutReader"/> found when it asked its log's cache for records.</summary>
internal enum TakeOutcome
{
    /// <summary>Records were taken.</summary>
    Records,

    /// <summary>Nothing new yet: wait for the returned task (the next append).</summary>
    Wait,

    /// <summary>The log ended after the records already taken: the read ends with the returned exception.</summary>
    Ended,

    /// <summary>The reader's next record was evicted, or the shared reader failed: the reader must read on its own.</summary>
    ReadAlone,
}

/// <summary>
/// One log's read fan-out on this proxy: one tailing <see cref="LogReader"/> (the shared reader) pumps records into a
/// window of the newest records, bounded by bytes, from which every attached <see cref="FanoutReader"/> takes records at
/// its own pace. An entry is thus fetched from the bookies once however many clients read the log.
/// </summary>
/// <remarks>
/// <para>Coverage: every record with DLSN ≥ <c>_coveredFrom</c> is in the window or still to come from the shared reader,
/// and so is the first record with txid ≥ <c>_txFloor</c>. A reader can attach only to a position the window covers, so
/// it gets exactly the records its own reader would have, in order, once each.</para>
/// <para>Pacing: the shared reader reads ahead of the most advanced attached reader (the leader) by at most half the
/// window, and never waits for anyone else: when the window is full, the oldest records go, and an attached reader whose
/// next record went must read on its own (<see cref="TakeOutcome.ReadAlone"/>) until it catches up. A slow client
/// therefore costs only its own position; the leader's records are never evicted.</para>
/// </remarks>
internal sealed class LogFanout : IAsyncDisposable
{
    /// <summary>Most records taken from the shared reader at once.</summary>
    private const int PumpBatch = 256;

    private readonly Lock _gate = new();
    private readonly RecordWindow _window = new();
    private readonly HashSet<FanoutReader> _readers = [];
    private readonly ReadFanout _owner;
    private readonly long _cacheBytes;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<bool> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LogReader? _reader;
    private Task _pump = Task.CompletedTask;
    private Dlsn? _coveredFrom;
    private long? _txFloor;
    private Exception? _terminal;
    private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _room;
    private long _entriesCounted;
    private int _disposed;

    public LogFanout(ReadFanout owner, string name, DateTimeOffset createdAt, long cacheBytes)
    {
        _owner = owner;
        Name = name;
        CreatedAt = createdAt;
        _cacheBytes = cacheBytes;
    }

    /// <summary>The log.</summary>
    public string Name { get; }

    /// <summary>When the log read was created (a log deleted and created again under the same name is another log).</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>Completes with whether the shared reader opened.</summary>
    public Task<bool> Started => _started.Task;

    /// <summary>Readers using this fan-out (attached or reading alone); guarded by the owner's lock.</summary>
    internal int References { get; set; }

    /// <summary>No longer handed to new readers (failed, stale or released); guarded by the owner's lock.</summary>
    internal bool Retired { get; set; }

    /// <summary>The shared reader failed (or did not open): new readers need a fresh fan-out.</summary>
    public bool IsBroken
    {
        get
        {
            lock (_gate)
            {
                return _started.Task is { IsCompleted: true, Result: false } || _terminal is not (null or LogEndOfStreamException);
            }
        }
    }

    /// <summary>Readers attached to the window now.</summary>
    public int Attached
    {
        get
        {
            lock (_gate)
            {
                return _readers.Count;
            }
        }
    }

    /// <summary>
    /// Opens the shared reader at the first reader's position and starts pumping; its errors are the first reader's.
    /// <paramref name="active"/> is where the log's readable records started just before.
    /// </summary>
    public async Task StartAsync(LogManager log, ReadPosition position, LogActiveStart active, CancellationToken cancellationToken)
    {
        try
        {
            _reader = await log.OpenReaderAsync(position, cancellationToken: cancellationToken);
        }
        catch
        {
            _started.TrySetResult(false);
            throw;
        }

        lock (_gate)
        {
            if (position.Kind == ReadPositionKind.Dlsn)
            {
                _coveredFrom = position.Dlsn;
            }
            else
            {
                _txFloor = position.TxId;
                if (position == ReadPosition.Earliest)
                {
                    // From the earliest record: every active record is covered.
                    _coveredFrom = active.FirstActive;
                }
            }
        }

        _pump = PumpAsync(_reader, _stop.Token);
        _started.TrySetResult(true);
    }

    /// <summary>
    /// Attaches <paramref name="reader"/> at <paramref name="position"/> when the window covers it; the reader then gets the
    /// records its own reader would: from the position on, none before <paramref name="active"/>'s first active position.
    /// </summary>
    public bool TryAttach(FanoutReader reader, ReadPosition position, LogActiveStart active)
    {
        lock (_gate)
        {
            if (!IsUsableLocked())
            {
                return false;
            }

            if (position.Kind == ReadPositionKind.Dlsn)
            {
                var from = position.Dlsn > active.FirstActive ? position.Dlsn : active.FirstActive;
                if (_coveredFrom is not { } covered || from < covered)
                {
                    return false;
                }

                AttachLocked(reader, from, long.MinValue);
                return true;
            }

            if (_txFloor is not { } floor || position.TxId < floor)
            {
                return false;
            }

            AttachLocked(reader, active.FirstActive, position.TxId);
            return true;
        }
    }

    /// <summary>
    /// Attaches a reader that reads alone again, with <paramref name="next"/> the DLSN after the last record it delivered,
    /// once that position is covered and within the newest three quarters of the window (so it does not drop out again at once).
    /// </summary>
    public bool TryRejoin(FanoutReader reader, Dlsn next)
    {
        lock (_gate)
        {
            if (!IsUsableLocked() || _coveredFrom is not { } covered || next < covered)
            {
                return false;
            }

            long index = _window.LowerBound(next, static (r, n) => r.Dlsn >= n);
            if (_window.BytesFrom(index) > _cacheBytes * 3 / 4)
            {
                return false;
            }

            AttachLocked(reader, next, long.MinValue);
            return true;
        }
    }

    /// <summary>Takes up to <paramref name="max"/> records for an attached reader (see <see cref="TakeOutcome"/>).</summary>
    public TakeOutcome Take(FanoutReader reader, int max, List<LogRecordWithDlsn> into, out Task wait, out Exception? terminal)
    {
        wait = Task.CompletedTask;
        terminal = null;
        lock (_gate)
        {
            if (reader.NextIndex < _window.First)
            {
                DetachLocked(reader);
                return TakeOutcome.ReadAlone;
            }

            while (reader.NextIndex < _window.End && into.Count < max)
            {
                var record = _window[reader.NextIndex++];
                if (reader.Skipping)
                {
                    if (record.Dlsn < reader.MinDlsn || record.TxId < reader.MinTxId)
                    {
                        continue;
                    }

                    reader.Skipping = false;
                }

                into.Add(record);
            }

            WakePumpLocked();
            if (into.Count > 0)
            {
                return TakeOutcome.Records;
            }

            switch (_terminal)
            {
                case LogEndOfStreamException:
                    terminal = _terminal;
                    return TakeOutcome.Ended;
                case not null:
                    DetachLocked(reader);
                    return TakeOutcome.ReadAlone;
                default:
                    wait = _appended.Task;
                    return TakeOutcome.Wait;
            }
        }
    }

    /// <summary>Detaches a reader (it left, or reads alone).</summary>
    public void Detach(FanoutReader reader)
    {
        lock (_gate)
        {
            DetachLocked(reader);
        }
    }

    /// <summary>Stops the shared reader and releases the window.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _started.TrySetResult(false);
        await _stop.CancelAsync();
        await _pump;
        if (_reader is not null)
        {
            await _reader.DisposeAsync();
            CountEntries(_reader);
        }

        _stop.Dispose();
    }

    private async Task PumpAsync(LogReader reader, CancellationToken stop)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                await WaitForRoomAsync(stop);
                var batch = await reader.ReadBulkAsync(PumpBatch, stop);
                CountEntries(reader);
                TaskCompletionSource appended;
                lock (_gate)
                {
                    // Started by txid: every record from the first one returned on is covered. Started by DLSN: the records
                    // before it have txids up to the first one's (txids never decrease along a log), so any higher txid is.
                    _coveredFrom ??= batch[0].Dlsn;
                    _txFloor ??= batch[0].TxId == long.MaxValue ? long.MaxValue : batch[0].TxId + 1;
                    foreach (var record in batch)
                    {
                        _window.Add(record);
                    }

                    EvictLocked();
                    appended = _appended;
                    _appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                appended.TrySetResult();
            }
        }
        catch (Exception e)
        {
            CountEntries(reader);
            if (e is not LogEndOfStreamException && !stop.IsCancellationRequested)
            {
                _owner.SharedReaderFailed(Name, e);
            }

            TaskCompletionSource appended;
            lock (_gate)
            {
                _terminal = stop.IsCancellationRequested ? new ObjectDisposedException(nameof(LogFanout)) : e;
                appended = _appended;
            }

            appended.TrySetResult();
        }
    }

    /// <summary>Waits while the shared reader is half a window ahead of the most advanced attached reader.</summary>
    private async Task WaitForRoomAsync(CancellationToken stop)
    {
        while (true)
        {
            Task room;
            lock (_gate)
            {
                if (_readers.Count == 0 || _window.BytesFrom(LeaderLocked()) < _cacheBytes / 2)
                {
                    return;
                }

                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }

            await room.WaitAsync(stop);
        }
    }

    /// <summary>Evicts the oldest records beyond the window's size, never one the leader has not taken.</summary>
    private void EvictLocked()
    {
        long leader = LeaderLocked();
        while (_window.Bytes > _cacheBytes && _window.First < leader)
        {
            var evicted = _window.RemoveFirst();
            _coveredFrom = evicted.Dlsn.Next();
            _txFloor = evicted.TxId == long.MaxValue ? long.MaxValue : evicted.TxId + 1;
        }
    }

    /// <summary>The next index of the most advanced attached reader (the window's end when none is attached).</summary>
    private long LeaderLocked()
    {
        if (_readers.Count == 0)
        {
            return _window.End;
        }

        long leader = long.MinValue;
        foreach (var reader in _readers)
        {
            leader = Math.Max(leader, reader.NextIndex);
        }

        return leader;
    }

    private bool IsUsableLocked() =>
        Volatile.Read(ref _disposed) == 0 && _started.Task is { IsCompleted: true, Result: true } && _terminal is null or LogEndOfStreamException;

    private void AttachLocked(FanoutReader reader, Dlsn minDlsn, long minTxId)
    {
        reader.MinDlsn = minDlsn;
        reader.MinTxId = minTxId;
        reader.Skipping = true;
        reader.NextIndex = _window.LowerBound((minDlsn, minTxId), static (r, min) => r.Dlsn >= min.minDlsn && r.TxId >= min.minTxId);
        _readers.Add(reader);
        WakePumpLocked();
    }

    private void DetachLocked(FanoutReader reader)
    {
        if (_readers.Remove(reader))
        {
            WakePumpLocked();
        }
    }

    private void WakePumpLocked()
    {
        if (_room is { } room)
        {
            _room = null;
            room.TrySetResult();
        }
    }

    private void CountEntries(LogReader reader)
    {
        long read = reader.EntriesRead;
        long delta = read - _entriesCounted;
        _entriesCounted = read;
        _owner.CountEntries(shared: true, delta);
    }
}
