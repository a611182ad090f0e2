using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Writers;

/// <summary>
/// One record waiting for its DLSN: a pooled <see cref="IValueTaskSource{TResult}"/> behind the <c>ValueTask&lt;Dlsn&gt;</c>
/// that <see cref="AsyncLogWriter.WriteAsync(DistributedLog.Protocol.Records.LogRecord)"/> returns, so a write allocates no task. Returned to its pool once the
/// caller has taken the result.
/// </summary>
internal sealed class PendingWrite : IValueTaskSource<Dlsn>
{
    private static readonly ConcurrentBag<PendingWrite> Pool = [];
    private ManualResetValueTaskSourceCore<Dlsn> _core = new() { RunContinuationsAsynchronously = true };

    public static PendingWrite Rent() => Pool.TryTake(out var write) ? write : new PendingWrite();

    private AsyncLogWriter? _owner;
    private int _bytes;

    public ValueTask<Dlsn> Task => new(this, _core.Version);

    /// <summary>Counts this write against its writer's bound on outstanding writes until it completes or fails.</summary>
    public void Track(AsyncLogWriter owner, int bytes)
    {
        _owner = owner;
        _bytes = bytes;
        owner.OnWriteAccepted(bytes);
    }

    /// <summary>Undoes <see cref="Track"/> for a write refused after all.</summary>
    public void Untrack()
    {
        Done();
    }

    public void Complete(Dlsn dlsn)
    {
        Done();
        _core.SetResult(dlsn);
    }

    public void Fail(Exception error)
    {
        Done();
        _core.SetException(error);
    }

    private void Done()
    {
        if (_owner is { } owner)
        {
            _owner = null;
            owner.OnWriteDone(_bytes);
        }
    }

    public Dlsn GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Pool.Add(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
