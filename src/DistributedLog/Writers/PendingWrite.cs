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

    public ValueTask<Dlsn> Task => new(this, _core.Version);

    public void Complete(Dlsn dlsn) => _core.SetResult(dlsn);

    public void Fail(Exception error) => _core.SetException(error);

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
