using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata.Etcd;

/// <summary>
/// An etcd lease kept alive on its own <c>LeaseKeepAlive</c> stream every third of its TTL. After a failure the stream
/// is re-opened with back-off. The lease counts as lost when etcd answers with TTL 0 (expired or revoked) or when the
/// local estimate of its expiry (send time of the last acknowledged renewal + TTL) passes without a renewal.
/// </summary>
internal sealed class EtcdLease : ILease
{
    private readonly EtcdMetadataStore _store;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _keepAlive = Task.CompletedTask;
    private long _expiresAt;
    private int _stopped;

    public EtcdLease(EtcdMetadataStore store, long id, TimeSpan ttl, long grantedAt)
    {
        _store = store;
        Id = id;
        Ttl = ttl;
        _expiresAt = grantedAt + TicksOf(ttl);
    }

    public long Id { get; }

    public TimeSpan Ttl { get; }

    public CancellationToken Lost => _lost.Token;

    private long TicksOf(TimeSpan span) => (long)(span.TotalSeconds * _store.Time.TimestampFrequency);

    public void Start() => _keepAlive = Task.Run(KeepAliveLoopAsync);

    private async Task KeepAliveLoopAsync()
    {
        TimeProvider time = _store.Time;
        TimeSpan interval = Ttl / 3;
        var request = new LeaseKeepAliveRequest { ID = Id };
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? call = null;
        CancellationTokenSource? callStop = null;
        EtcdEndpoint? endpoint = null;
        int failures = 0;
        TimeSpan wait = interval;
        try
        {
            while (true)
            {
                TimeSpan remaining = time.GetElapsedTime(time.GetTimestamp(), _expiresAt);
                if (remaining <= TimeSpan.Zero)
                {
                    _store.Logger.LogWarning("Lease {LeaseId} could not be renewed within its TTL of {Ttl} (etcd at {Endpoints}); it is lost.",
                        Id, Ttl, _store.EndpointsText);
                    MarkLost();
                    return;
                }
                await Task.Delay(wait < remaining ? wait : remaining, time, _stop.Token);

                long sentAt = time.GetTimestamp();
                try
                {
                    if (call is null)
                    {
                        // The stream lives on one member; it breaks when that member is taken out of rotation.
                        endpoint = _store.Endpoints.Pick();
                        callStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, endpoint.Failed);
                        call = endpoint.Leases.LeaseKeepAlive(new CallOptions(EtcdMetadataStore.RequireLeader, cancellationToken: callStop.Token));
                    }
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    timeout.CancelAfter(_store.Options.OperationTimeout);
                    await call.RequestStream.WriteAsync(request, timeout.Token);
                    if (!await call.ResponseStream.MoveNext(timeout.Token))
                        throw new IOException("etcd closed the lease keep-alive stream");
                    LeaseKeepAliveResponse response = call.ResponseStream.Current;
                    _store.Endpoints.Answered(endpoint!);
                    if (response.TTL <= 0)
                    {
                        _store.Logger.LogWarning("etcd at {Endpoints} reports lease {LeaseId} expired or revoked; it is lost.",
                            _store.EndpointsText, Id);
                        MarkLost();
                        return;
                    }
                    _expiresAt = sentAt + TicksOf(TimeSpan.FromSeconds(response.TTL));
                    failures = 0;
                    wait = interval;
                }
                catch (Exception e) when (!_stop.IsCancellationRequested && e is RpcException or IOException or OperationCanceledException or InvalidOperationException)
                {
                    call?.Dispose();
                    call = null;
                    if (endpoint is not null && callStop is { IsCancellationRequested: false })
                        _store.NoteFailure(endpoint, e, _stop.Token);
                    callStop?.Dispose();
                    callStop = null;
                    if (failures++ == 0)
                    {
                        _store.Logger.LogWarning("Renewing lease {LeaseId} on etcd at {Endpoints} failed ({Reason}); retrying until its TTL runs out.",
                            Id, _store.EndpointsText, e.Message);
                    }
                    TimeSpan backoff = _store.Backoff(failures);
                    wait = backoff < interval ? backoff : interval;
                }
            }
        }
        catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or RpcException or IOException)
        {
            // Stopping: the cancelled keep-alive call may end as "request aborted" (Unavailable) rather than Cancelled.
        }
        finally
        {
            call?.Dispose();
            callStop?.Dispose();
        }
    }

    public async ValueTask RevokeAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync();
        try
        {
            await _store.RevokeLeaseAsync(Id, cancellationToken);
        }
        finally
        {
            MarkLost();
            _store.Forget(this);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        MarkLost();
        _store.Forget(this);
    }

    private async ValueTask StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        await _stop.CancelAsync();
        try
        {
            await _keepAlive;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void MarkLost()
    {
        if (!_lost.IsCancellationRequested)
            _ = _lost.CancelAsync();
    }

    public override string ToString() => $"etcd lease {Id} (TTL {Ttl})";
}
