using DistributedLog.Protocol.Records;

namespace DistributedLog.Readers;

/// <summary>
/// The bounded hand-off between a reader's read-ahead loop (one producer) and its reads (one at a time): decoded records
/// in log order, accounted per entry so that at most <c>maxEntries</c> entries (and about <c>maxBytes</c> entry bytes)
/// are held. A terminal outcome (end of stream or an error) is delivered after every record added before it.
/// </summary>
internal sealed class ReadAheadQueue(int maxEntries, long maxBytes)
{
    private readonly Lock _gate = new();
    private readonly Queue<LogRecordWithDlsn> _records = new();
    private readonly Queue<(int Records, int Bytes)> _entries = new();
    private int _takenFromHead;
    private int _entryCount;
    private long _byteCount;
    private Exception? _terminal;
    private TaskCompletionSource? _recordsWaiter;
    private int _recordsWanted;
    private TaskCompletionSource? _spaceWaiter;

    /// <summary>Records ready to be taken.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    private bool IsFull => _entryCount >= maxEntries || _byteCount >= maxBytes;

    /// <summary>Waits until the window has room; returns how many entries may be fetched now (at least 1).</summary>
    public async ValueTask<int> WaitForSpaceAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (!IsFull)
                {
                    return maxEntries - _entryCount;
                }

                _spaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _spaceWaiter.Task;
            }

            await wait.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Adds the user records of one entry of <paramref name="entryBytes"/> bytes (nothing when there are none).</summary>
    public void Add(List<LogRecordWithDlsn> records, int entryBytes)
    {
        if (records.Count == 0)
        {
            return;
        }

        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            if (_terminal is not null)
            {
                return;
            }

            foreach (var record in records)
            {
                _records.Enqueue(record);
            }

            _entries.Enqueue((records.Count, entryBytes));
            _entryCount++;
            _byteCount += entryBytes;
            if (_recordsWaiter is not null && (_records.Count >= _recordsWanted || IsFull))
            {
                wake = _recordsWaiter;
                _recordsWaiter = null;
            }
        }

        wake?.TrySetResult();
    }

    /// <summary>Ends the queue: once the records already added are taken, takers get <paramref name="terminal"/>. The first call wins.</summary>
    public void Complete(Exception terminal)
    {
        TaskCompletionSource? records, space;
        lock (_gate)
        {
            _terminal ??= terminal;
            records = _recordsWaiter;
            space = _spaceWaiter;
            _recordsWaiter = null;
            _spaceWaiter = null;
        }

        records?.TrySetResult();
        space?.TrySetResult();
    }

    /// <summary>Takes the next record; when there is none, returns false with the terminal outcome, if any.</summary>
    public bool TryTake(out LogRecordWithDlsn? record, out Exception? terminal)
    {
        TaskCompletionSource? wake;
        lock (_gate)
        {
            if (!_records.TryDequeue(out record))
            {
                terminal = _terminal;
                return false;
            }

            wake = Released(1);
        }

        wake?.TrySetResult();
        terminal = null;
        return true;
    }

    /// <summary>Moves up to <paramref name="max"/> records into <paramref name="destination"/>; when there is none, reports the terminal outcome.</summary>
    public int TakeMany(List<LogRecordWithDlsn> destination, int max, out Exception? terminal)
    {
        TaskCompletionSource? wake;
        int taken = 0;
        lock (_gate)
        {
            while (taken < max && _records.TryDequeue(out var record))
            {
                destination.Add(record);
                taken++;
            }

            terminal = taken == 0 ? _terminal : null;
            wake = taken > 0 ? Released(taken) : null;
        }

        wake?.TrySetResult();
        return taken;
    }

    /// <summary>
    /// A task that completes when at least <paramref name="wanted"/> records are ready, when the window is full (no more
    /// can come until records are taken) or when the queue has ended.
    /// </summary>
    public Task WaitForRecordsAsync(int wanted)
    {
        lock (_gate)
        {
            if (_records.Count >= wanted || _terminal is not null || (_records.Count > 0 && IsFull))
            {
                return Task.CompletedTask;
            }

            _recordsWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _recordsWanted = wanted;
            return _recordsWaiter.Task;
        }
    }

    /// <summary>Accounts <paramref name="taken"/> records as taken; returns the producer's waiter if room appeared. Called under the lock.</summary>
    private TaskCompletionSource? Released(int taken)
    {
        _takenFromHead += taken;
        while (_entries.TryPeek(out var head) && _takenFromHead >= head.Records)
        {
            _entries.Dequeue();
            _takenFromHead -= head.Records;
            _entryCount--;
            _byteCount -= head.Bytes;
        }

        if (_spaceWaiter is not null && !IsFull)
        {
            var wake = _spaceWaiter;
            _spaceWaiter = null;
            return wake;
        }

        return null;
    }
}
