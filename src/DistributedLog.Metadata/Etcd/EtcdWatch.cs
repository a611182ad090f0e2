using System.Threading.Channels;
using DistributedLog.Metadata.Internal;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata.Etcd;

/// <summary>
/// A watch on its own etcd Watch stream. Established once etcd answers "created" (the header revision of that answer is
/// <see cref="IMetadataWatch.StartRevision"/>). When the stream breaks, it is re-created from the revision after the last
/// event delivered, with back-off, until the watch is disposed; if etcd compacted those revisions meanwhile, the watch is
/// lost. Events are written to the buffer with back-pressure: a slow consumer slows the stream, nothing is dropped.
/// </summary>
internal sealed class EtcdWatch : ChannelWatch
{
    private readonly EtcdMetadataStore _store;
    private readonly ByteString _key;
    private readonly ByteString _rangeEnd;
    private readonly CancellationTokenSource _stop = new();
    private AsyncDuplexStreamingCall<WatchRequest, WatchResponse>? _call;
    private CancellationTokenSource? _callStop;
    private EtcdEndpoint? _endpoint;
    private Task _pump = Task.CompletedTask;
    private long _lastRevision;
    private int _stopped;

    public EtcdWatch(EtcdMetadataStore store, string keyOrPrefix, bool isPrefix)
        : base(keyOrPrefix, isPrefix, store.Options.WatchBufferCapacity)
    {
        _store = store;
        if (isPrefix)
        {
            (_key, _rangeEnd) = store.PrefixRange(keyOrPrefix);
        }
        else
        {
            _key = store.EtcdKey(keyOrPrefix);
            _rangeEnd = ByteString.Empty;
        }
    }

    private string What => IsPrefix ? "watch prefix" : "watch";

    /// <summary>Creates the watch in etcd (retrying while etcd is unavailable) and starts delivering events.</summary>
    public async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                WatchResponse created = await CreateAsync(0, cancellationToken);
                if (created.Canceled)
                {
                    throw new MetadataStoreException(Protocol.Errors.StatusCode.MetadataStoreError,
                        $"etcd at {_store.EndpointsText} refused to {What} '{KeyOrPrefix}': {created.CancelReason}", isRetryable: false);
                }
                StartRevision = created.Header.Revision;
                _lastRevision = StartRevision;
                break;
            }
            catch (RpcException e) when (attempt < _store.Options.ReadRetries && EtcdMetadataStore.IsConnectionFailure(e)
                && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(_store.Backoff(attempt), _store.Time, cancellationToken);
            }
            catch (RpcException e) when (_store.CanFailOver(attempt) && EtcdMetadataStore.IsDeadline(e)
                && !cancellationToken.IsCancellationRequested)
            {
                // The stream went to a member that did not answer in time: the next one goes to another member.
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw _store.Translate(e, What, KeyOrPrefix, write: false);
            }
        }
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Opens a stream and creates the watch on it from <paramref name="startRevision"/> (0: from now); returns
    /// etcd's first answer. Failures and timeouts surface as <see cref="RpcException"/>.</summary>
    private async Task<WatchResponse> CreateAsync(long startRevision, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        timeout.CancelAfter(_store.Options.OperationTimeout);
        // The stream lives on one member; it breaks when that member is taken out of rotation and is re-created elsewhere.
        EtcdEndpoint endpoint = _store.Endpoints.Pick();
        var callStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, endpoint.Failed);
        AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call =
            endpoint.Watches.Watch(new CallOptions(EtcdMetadataStore.RequireLeader, cancellationToken: callStop.Token));
        try
        {
            var create = new WatchCreateRequest { Key = _key, StartRevision = startRevision };
            if (!_rangeEnd.IsEmpty)
                create.RangeEnd = _rangeEnd;
            await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = create }, timeout.Token);
            if (!await call.ResponseStream.MoveNext(timeout.Token))
                throw new RpcException(new Status(StatusCode.Unavailable, "etcd closed the watch stream before creating the watch"));
            WatchResponse response = call.ResponseStream.Current;
            _store.Endpoints.Answered(endpoint);
            if (!response.Created)
                throw new RpcException(new Status(StatusCode.Internal, "etcd's first answer on a watch stream was not 'created'"));
            _call = call;
            _callStop = callStop;
            _endpoint = endpoint;
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stop.IsCancellationRequested)
        {
            call.Dispose();
            callStop.Dispose();
            var deadline = new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"etcd member {endpoint.Address} did not create the watch within {_store.Options.OperationTimeout.TotalSeconds:0.###} s"));
            _store.NoteFailure(endpoint, deadline, cancellationToken);
            throw deadline;
        }
        catch (Exception e)
        {
            call.Dispose();
            callStop.Dispose();
            _store.NoteFailure(endpoint, e, cancellationToken);
            throw;
        }
    }

    private async Task PumpAsync()
    {
        int failures = 0;
        try
        {
            while (true)
            {
                try
                {
                    if (_call is null)
                    {
                        WatchResponse created = await CreateAsync(_lastRevision + 1, CancellationToken.None);
                        if (created.Canceled)
                        {
                            Lose(Reason(created));
                            return;
                        }
                        _store.Logger.LogInformation("The watch on {Key} at etcd {Endpoints} resumed from revision {Revision}.",
                            KeyOrPrefix, _store.EndpointsText, _lastRevision + 1);
                    }
                    IAsyncStreamReader<WatchResponse> stream = _call!.ResponseStream;
                    while (await stream.MoveNext(_stop.Token))
                    {
                        WatchResponse response = stream.Current;
                        _store.Endpoints.Answered(_endpoint!);
                        failures = 0;
                        if (response.Canceled)
                        {
                            Lose(Reason(response));
                            return;
                        }
                        foreach (Mvccpb.Event change in response.Events)
                        {
                            await Writer.WriteAsync(Convert(change), _stop.Token);
                            _lastRevision = change.Kv.ModRevision;
                        }
                    }
                    throw new RpcException(new Status(StatusCode.Unavailable, "etcd closed the watch stream"));
                }
                catch (Exception e) when (!_stop.IsCancellationRequested
                    && e is RpcException or IOException or InvalidOperationException or OperationCanceledException)
                {
                    if (_endpoint is not null && _callStop is { IsCancellationRequested: false })
                        _store.NoteFailure(_endpoint, e, _stop.Token);
                    DropCall();
                    if (failures++ == 0)
                    {
                        _store.Logger.LogWarning("The watch on {Key} at etcd {Endpoints} broke ({Reason}); re-creating it from revision {Revision}.",
                            KeyOrPrefix, _store.EndpointsText, e.Message, _lastRevision + 1);
                    }
                    await Task.Delay(_store.Backoff(failures), _store.Time, _stop.Token);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (ChannelClosedException)
        {
        }
        finally
        {
            DropCall();
        }
    }

    private void DropCall()
    {
        _call?.Dispose();
        _call = null;
        _callStop?.Dispose();
        _callStop = null;
        _endpoint = null;
    }

    private string Reason(WatchResponse response) => response.CompactRevision > 0
        ? $"etcd compacted its history up to revision {response.CompactRevision}, past revision {_lastRevision + 1} that the watch needed to resume"
        : $"etcd cancelled it ({response.CancelReason})";

    private WatchEvent Convert(Mvccpb.Event change)
    {
        Mvccpb.KeyValue kv = change.Kv;
        string key = _store.UserKey(kv.Key);
        return change.Type == Mvccpb.Event.Types.EventType.Put
            ? new WatchEvent(WatchEventType.Put, key, kv.Value.Memory, kv.ModRevision)
            : new WatchEvent(WatchEventType.Delete, key, default, kv.ModRevision);
    }

    public override async ValueTask DisposeAsync()
    {
        await StopAsync();
        Complete();
        _store.Forget(this);
    }

    /// <summary>Stops the watch and ends its enumeration with <see cref="MetadataWatchLostException"/>.</summary>
    public async ValueTask AbortAsync(string reason)
    {
        await StopAsync();
        Lose(reason);
    }

    private async ValueTask StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        await _stop.CancelAsync();
        try
        {
            await _pump;
        }
        catch (Exception e) when (e is OperationCanceledException or Grpc.Core.RpcException or IOException)
        {
            // Stopping cancels the stream; how the pump ends then does not matter.
        }
        DropCall();
    }
}
