using System.Threading.Tasks.Sources;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Client;

/// <summary>A response as received: status, the three values and the payload.</summary>
internal readonly record struct BookieReply(StatusCode Status, long A, long B, long C, byte[]? Payload);

/// <summary>
/// A request waiting for its response: a pooled, reusable <see cref="IValueTaskSource{TResult}"/>, so that a request
/// allocates nothing. Continuations never run on the socket's read loop.
/// </summary>
internal sealed class PendingRequest : IValueTaskSource<BookieReply>
{
    private ManualResetValueTaskSourceCore<BookieReply> _core = new() { RunContinuationsAsynchronously = true };
    private BookieChannel? _owner;
    private int _completed;
    private IBookieAddCallback? _callback;
    private object? _callbackState;
    private long _ledgerId;
    private long _entryId;

    public ulong RequestId { get; private set; }

    public long Deadline { get; private set; }

    public void Arm(BookieChannel owner, ulong requestId, long deadline)
    {
        _owner = owner;
        RequestId = requestId;
        Deadline = deadline;
        _completed = 0;
        _callback = null;
        _callbackState = null;
    }

    /// <summary>Makes this request complete through <paramref name="callback"/> instead of its value task.</summary>
    public void UseCallback(IBookieAddCallback callback, object? state, long ledgerId, long entryId)
    {
        _callback = callback;
        _callbackState = state;
        _ledgerId = ledgerId;
        _entryId = entryId;
    }

    public ValueTask<BookieReply> Task => new(this, _core.Version);

    /// <summary>Completes the request once; later calls are ignored. Returns whether this call completed it.</summary>
    public bool TryComplete(in BookieReply reply)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return false;
        }

        var callback = _callback;
        if (callback is not null)
        {
            var state = _callbackState;
            var result = new BookieAddResult(reply.Status, _ledgerId, _entryId);
            var owner = _owner;
            _owner = null;
            _callback = null;
            _callbackState = null;
            owner?.Return(this);
            callback.OnAddComplete(result, state);
            return true;
        }

        _core.SetResult(reply);
        return true;
    }

    public BookieReply GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            var owner = _owner;
            _owner = null;
            _core.Reset();
            owner?.Return(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
