using DistributedLog.Protocol.Records;

namespace DistributedLog.Proxy.Reads;

/// <summary>
/// The records a <see cref="LogFanout"/> keeps, in log order, addressed by a running index that never goes back: records
/// are appended at <see cref="End"/> and evicted from <see cref="First"/>. It counts payload bytes, so the bytes from any
/// index to the end are known at once. Not thread-safe: the fan-out's lock guards it.
/// </summary>
internal sealed class RecordWindow
{
    private LogRecordWithDlsn[] _records = new LogRecordWithDlsn[256];
    private long[] _offsets = new long[256]; // payload bytes appended before each record
    private long _endOffset;

    /// <summary>The index of the oldest record kept.</summary>
    public long First { get; private set; }

    /// <summary>The index the next appended record gets.</summary>
    public long End { get; private set; }

    /// <summary>Payload bytes of the records kept.</summary>
    public long Bytes => BytesFrom(First);

    /// <summary>The record at <paramref name="index"/> (<see cref="First"/> ≤ index &lt; <see cref="End"/>).</summary>
    public LogRecordWithDlsn this[long index] => _records[Slot(index)];

    /// <summary>The newest record kept, if any.</summary>
    public LogRecordWithDlsn? Last => End > First ? this[End - 1] : null;

    public void Add(LogRecordWithDlsn record)
    {
        if (End - First == _records.Length)
        {
            Grow();
        }

        _records[Slot(End)] = record;
        _offsets[Slot(End)] = _endOffset;
        _endOffset += record.Payload.Length;
        End++;
    }

    /// <summary>Drops the oldest record and returns it.</summary>
    public LogRecordWithDlsn RemoveFirst()
    {
        int slot = Slot(First);
        var record = _records[slot];
        _records[slot] = null!;
        First++;
        return record;
    }

    /// <summary>Payload bytes of the records from <paramref name="index"/> (clamped to the window) to the end.</summary>
    public long BytesFrom(long index)
    {
        index = Math.Clamp(index, First, End);
        return index == End ? 0 : _endOffset - _offsets[Slot(index)];
    }

    /// <summary>
    /// The first index whose record satisfies <paramref name="passes"/>, or <see cref="End"/>: a binary search, so the
    /// predicate must hold from some record on (such as "DLSN ≥ x and txid ≥ t", both ordered in a log).
    /// </summary>
    public long LowerBound<TState>(TState state, Func<LogRecordWithDlsn, TState, bool> passes)
    {
        long low = First;
        long high = End;
        while (low < high)
        {
            long middle = low + ((high - low) / 2);
            if (passes(this[middle], state))
            {
                high = middle;
            }
            else
            {
                low = middle + 1;
            }
        }

        return low;
    }

    private int Slot(long index) => (int)(index & (_records.Length - 1));

    private void Grow()
    {
        var records = new LogRecordWithDlsn[_records.Length * 2];
        var offsets = new long[_records.Length * 2];
        for (long i = First; i < End; i++)
        {
            records[i & (records.Length - 1)] = _records[Slot(i)];
            offsets[i & (offsets.Length - 1)] = _offsets[Slot(i)];
        }

        _records = records;
        _offsets = offsets;
    }
}
