using System.Buffers;
using System.Threading.Tasks.Sources;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Wire;

namespace DistributedLog.Ledgers.Handles;

/// <summary>One replica of a pending add: which bookie, at which write-set position. Passed as the add callback's state.</summary>
internal sealed class AddTarget(PendingAdd owner, int position, string bookieId)
{
    public PendingAdd Owner { get; } = owner;

    public int Position { get; } = position;

    public string BookieId { get; } = bookieId;
}

/// <summary>
/// An entry sent to its write set and waiting for Qa acknowledgements. Pooled and reused (with its buffer and replica
/// targets), and it is the <see cref="IValueTaskSource{TResult}"/> behind the caller's <c>ValueTask</c>, so an add
/// allocates nothing in steady state. Freed when the caller has its result and every replica has answered.
/// </summary>
internal sealed class PendingAdd : IValueTaskSource<long>, ISendBufferOwner
{
    private ManualResetValueTaskSourceCore<long> _core = new() { RunContinuationsAsynchronously = true };
    private byte[] _buffer = [];
    private int _refs;

    public LedgerHandle Handle { get; private set; } = null!;

    public long EntryId { get; private set; }

    public long LedgerLength { get; private set; }

    public int Length { get; private set; }

    public AddTarget?[] Targets { get; private set; } = [];

    public uint AckedMask { get; set; }

    public int AckCount { get; set; }

    public bool Quorum { get; set; }

    public ReadOnlyMemory<byte> Entry => _buffer.AsMemory(0, Length);

    public ValueTask<long> Task => new(this, _core.Version);

    /// <summary>The error this add failed with (set before it is delivered), or null.</summary>
    public Exception? Error { get; set; }

    private ILedgerAddCallback? _callback;
    private object? _state;

    /// <summary>
    /// Makes room for a payload of up to <paramref name="maxPayloadLength"/> bytes and returns where it goes: right
    /// after the packaged-entry header, in the buffer the entry is sent from (the payload is built there, not copied).
    /// </summary>
    public Span<byte> ReservePayload(int maxPayloadLength)
    {
        int size = PackagedEntry.SizeOf(maxPayloadLength);
        if (_buffer.Length < size)
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = ArrayPool<byte>.Shared.Rent(size);
        }

        return _buffer.AsSpan(PackagedEntry.HeaderSize, maxPayloadLength);
    }

    /// <summary>Prepares this add: writes the packaged-entry header (with the piggybacked LAC) in front of the reserved payload.</summary>
    public void Init(LedgerHandle handle, long entryId, long lastAddConfirmed, long ledgerLength, int payloadLength, int writeQuorum,
        ILedgerAddCallback? callback, object? state)
    {
        Handle = handle;
        Error = null;
        _callback = callback;
        _state = state;
        EntryId = entryId;
        LedgerLength = ledgerLength;
        Length = PackagedEntry.WriteHeader(_buffer, handle.LedgerId, entryId, lastAddConfirmed, ledgerLength, payloadLength);
        if (Targets.Length != writeQuorum)
        {
            Targets = new AddTarget?[writeQuorum];
        }

        AckedMask = 0;
        AckCount = 0;
        Quorum = false;
        _refs = 1; // the caller's result
    }

    /// <summary>The reusable target for position <paramref name="k"/> and <paramref name="bookieId"/>.</summary>
    public AddTarget TargetFor(int k, string bookieId)
    {
        var target = Targets[k];
        if (target is null || !ReferenceEquals(target.BookieId, bookieId))
        {
            target = new AddTarget(this, k, bookieId);
        }

        Targets[k] = target;
        return target;
    }

    /// <summary>One more reply to wait for before this object may be reused.</summary>
    public void AddRef() => Interlocked.Increment(ref _refs);

    /// <summary>A reply (or the caller's result) is done with this object; recycles it after the last one.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
        {
            var handle = Handle;
            _core.Reset();
            handle.Recycle(this);
        }
    }

    /// <summary>
    /// Gives the outcome to the caller: the callback (then the caller's reference is dropped at once), or the task
    /// (dropped when the caller takes the result).
    /// </summary>
    public void Deliver()
    {
        if (_callback is { } callback)
        {
            var state = _state;
            _callback = null;
            _state = null;
            try
            {
                callback.OnAddCompleted(EntryId, Error, state);
            }
            finally
            {
                Release();
            }

            return;
        }

        if (Error is { } error)
        {
            _core.SetException(error);
        }
        else
        {
            _core.SetResult(EntryId);
        }
    }

    public long GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Release();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
