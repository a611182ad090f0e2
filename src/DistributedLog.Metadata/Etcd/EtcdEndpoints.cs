using Etcdserverpb;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata.Etcd;

/// <summary>
/// One etcd member's client endpoint: its own HTTP/2 channel and gRPC clients, and whether it is in rotation.
/// </summary>
internal sealed class EtcdEndpoint : IDisposable
{
    private readonly GrpcChannel _channel;
    private CancellationTokenSource _failed = new();
    private long _lastAnswer;
    private long _answers;
    private int _quarantined;

    public EtcdEndpoint(string address, GrpcChannel channel)
    {
        Address = address;
        _channel = channel;
        CallInvoker invoker = channel.CreateCallInvoker();
        Kv = new KV.KVClient(invoker);
        Leases = new Lease.LeaseClient(invoker);
        Watches = new Watch.WatchClient(invoker);
    }

    /// <summary>The member's client address (<c>host:port</c>).</summary>
    public string Address { get; }

    public KV.KVClient Kv { get; }

    public Lease.LeaseClient Leases { get; }

    public Watch.WatchClient Watches { get; }

    /// <summary>Whether the member is out of rotation (it missed a deadline or its connection failed).</summary>
    public bool IsQuarantined => Volatile.Read(ref _quarantined) != 0;

    /// <summary>Cancelled when the member is taken out of rotation: streams opened on it (watches, lease keep-alives)
    /// link their call to it, so they break at once and re-open on a healthy member.</summary>
    public CancellationToken Failed => Volatile.Read(ref _failed).Token;

    /// <summary>How many calls this member answered (tests use it to see that a thawed member is used again).</summary>
    public long Answers => Interlocked.Read(ref _answers);

    /// <summary>The timestamp of the member's last answer (0: never).</summary>
    public long LastAnswer => Interlocked.Read(ref _lastAnswer);

    public void Answered(long now)
    {
        Interlocked.Exchange(ref _lastAnswer, now);
        Interlocked.Increment(ref _answers);
    }

    /// <summary>Takes the member out of rotation; false when it already was.</summary>
    public bool Quarantine()
    {
        if (Interlocked.Exchange(ref _quarantined, 1) != 0)
            return false;
        _failed.Cancel();
        return true;
    }

    /// <summary>Puts the member back into rotation; false when it was in rotation.</summary>
    public bool Restore()
    {
        if (!IsQuarantined)
            return false;
        CancellationTokenSource old = Interlocked.Exchange(ref _failed, new CancellationTokenSource());
        Volatile.Write(ref _quarantined, 0);
        // The old source is cancelled and left to the collector: streams may still be linking to its token.
        _ = old;
        return true;
    }

    public void Dispose()
    {
        _channel.Dispose();
        _failed.Dispose();
    }

    public override string ToString() => Address;
}

/// <summary>
/// The members of an etcd cluster as the client sees them. Calls go round-robin to the members in rotation; a member
/// whose call missed its deadline or whose connection failed is taken out of rotation (the streams on it break and
/// re-open elsewhere) and probed with a linearizable read until it answers again. Every member in rotation is also
/// probed when it answered nothing for a while, so a member that freezes while only idle streams use it is found too.
/// With a single endpoint nothing is ever taken out of rotation and nothing is probed: a deadline is final there.
/// </summary>
internal sealed partial class EtcdEndpoints : IAsyncDisposable
{
    private readonly EtcdEndpoint[] _all;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<EtcdEndpoint, CallOptions, Task> _probe;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _checks;
    private readonly TaskCompletionSource _firstAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next;

    /// <param name="all">The members, in the order given.</param>
    /// <param name="probe">A cheap call that only a healthy member answers (a linearizable read).</param>
    /// <param name="operationTimeout">The deadline of one call; a probe gets at most this much.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">Where membership changes are logged.</param>
    public EtcdEndpoints(IReadOnlyList<EtcdEndpoint> all, Func<EtcdEndpoint, CallOptions, Task> probe, TimeSpan operationTimeout,
        TimeProvider time, ILogger logger)
    {
        _all = [.. all];
        _probe = probe;
        _time = time;
        _logger = logger;
        ProbeTimeout = operationTimeout < MaxProbeTimeout ? operationTimeout : MaxProbeTimeout;
        // Start at a random member: many clients of one cluster spread their first calls.
        _next = Random.Shared.Next(_all.Length);
        _checks = _all.Length == 1 ? [] : [.. _all.Select(e => Task.Run(() => CheckLoopAsync(e)))];
    }

    /// <summary>How often each member is checked (probed when it answered nothing since the last check).</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MaxProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The deadline of one probe: the operation timeout, at most 3 s.</summary>
    public TimeSpan ProbeTimeout { get; }

    public IReadOnlyList<EtcdEndpoint> All => _all;

    /// <summary>Whether there are several members (failover possible).</summary>
    public bool IsCluster => _all.Length > 1;

    /// <summary>The member for the next call: the next one in rotation that has answered before (a member that never
    /// answered — frozen since the client started — is not tried while others answer); failing that, the next one in
    /// rotation; when every member is out of rotation, the next one anyway (a call that it answers puts it back).</summary>
    public EtcdEndpoint Pick()
    {
        if (_all.Length == 1)
            return _all[0];
        int start = Interlocked.Increment(ref _next);
        EtcdEndpoint? unproven = null;
        for (int i = 0; i < _all.Length; i++)
        {
            EtcdEndpoint candidate = _all[(int)((uint)(start + i) % (uint)_all.Length)];
            if (candidate.IsQuarantined)
                continue;
            if (candidate.LastAnswer != 0)
                return candidate;
            unproven ??= candidate;
        }
        return unproven ?? _all[(int)((uint)start % (uint)_all.Length)];
    }

    /// <summary>A call to <paramref name="endpoint"/> got an answer (any answer from etcd, error or not).</summary>
    public void Answered(EtcdEndpoint endpoint)
    {
        endpoint.Answered(_time.GetTimestamp());
        _firstAnswer.TrySetResult();
        if (_all.Length > 1 && endpoint.Restore())
            LogRestored(_logger, endpoint.Address);
    }

    /// <summary>Waits until some member answered (the probes that start with the client), at most
    /// <paramref name="timeout"/>: the first calls then go to a member known to answer rather than to a frozen one.</summary>
    public async ValueTask WaitForFirstAnswerAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_all.Length == 1)
            return;
        try
        {
            await _firstAnswer.Task.WaitAsync(timeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            // No member answered yet: the caller's own call reports what is wrong.
        }
    }

    /// <summary>A call to <paramref name="endpoint"/> missed its deadline or its connection failed: out of rotation.</summary>
    public void Failed(EtcdEndpoint endpoint, string reason)
    {
        if (_all.Length == 1 || _stop.IsCancellationRequested)
            return;
        if (endpoint.Quarantine())
            LogQuarantined(_logger, endpoint.Address, reason, _all.Count(e => !e.IsQuarantined));
    }

    private async Task CheckLoopAsync(EtcdEndpoint endpoint)
    {
        try
        {
            // The first check at once: a member frozen when the client starts is out of rotation within one probe.
            for (bool first = true; ; first = false)
            {
                if (!first)
                    await Task.Delay(CheckInterval, _time, _stop.Token);
                if (!endpoint.IsQuarantined && endpoint.LastAnswer != 0 && _time.GetElapsedTime(endpoint.LastAnswer) < CheckInterval)
                    continue;
                try
                {
                    await _probe(endpoint, new CallOptions(deadline: DateTime.UtcNow + ProbeTimeout, cancellationToken: _stop.Token));
                    Answered(endpoint);
                }
                catch (RpcException e) when (!_stop.IsCancellationRequested)
                {
                    Failed(endpoint, $"{e.StatusCode}: {e.Status.Detail}");
                }
                catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                {
                    Failed(endpoint, $"no answer within {ProbeTimeout.TotalSeconds:0.###} s");
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (RpcException) when (_stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        await _stop.CancelAsync();
        await Task.WhenAll(_checks);
        foreach (EtcdEndpoint endpoint in _all)
            endpoint.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning,
        Message = "etcd member {Endpoint} is taken out of rotation ({Reason}); {Healthy} member(s) remain; it is probed until it answers again")]
    private static partial void LogQuarantined(ILogger logger, string endpoint, string reason, int healthy);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Information, Message = "etcd member {Endpoint} answers again; back in rotation")]
    private static partial void LogRestored(ILogger logger, string endpoint);
}
