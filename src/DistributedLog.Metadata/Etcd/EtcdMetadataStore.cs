using System.Text;
using DistributedLog.Metadata.Internal;
using DistributedLog.Protocol.Errors;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using GrpcStatusCode = Grpc.Core.StatusCode;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;

namespace DistributedLog.Metadata.Etcd;

/// <summary>
/// The cluster metadata store: etcd v3, through the <c>dotnet-etcd</c> client.
/// </summary>
/// <remarks>
/// <para><b>Layout</b>: every key lives under the root prefix <c>/&lt;root&gt;/</c>; <c>etcd://host:2379/dl</c> stores key
/// <c>ledgers/42</c> as <c>/dl/ledgers/42</c> (an empty root stores it as <c>/ledgers/42</c>). Listings, prefix deletes and
/// watches never leave the root.</para>
/// <para><b>Versions</b> are etcd's own: a key's version is its <c>mod_revision</c> and its create version its
/// <c>create_revision</c>. Transactions are etcd <c>Txn</c>s that compare <c>mod_revision</c> (version equals),
/// <c>create_revision == 0</c> (absent) or <c>create_revision &gt; 0</c> (exists).</para>
/// <para><b>Leases</b> are etcd leases (TTL in whole seconds, at least etcd's minimum), kept alive on a
/// <c>LeaseKeepAlive</c> stream every third of the TTL and reconnected after failures; <see cref="ILease.Lost"/> fires
/// when etcd says the lease is gone or when no renewal succeeded within the TTL.</para>
/// <para><b>Watches</b> use the etcd Watch API, one stream each; a broken stream is re-created from the revision after
/// the last one delivered, so outages delay events without losing them (unless etcd compacted that history).</para>
/// <para><b>Several members</b>: each endpoint has its own HTTP/2 channel; calls go round-robin to the members in
/// rotation. A member whose call missed its deadline or whose connection failed is taken out of rotation — the streams on
/// it break and re-open on another member — and probed until it answers again; members that answered nothing for a second
/// are probed too, so a member that freezes under idle streams is found (<see cref="EtcdEndpoints"/>). With a single
/// endpoint nothing is taken out of rotation.</para>
/// <para><b>Failures</b>: gRPC <c>Unavailable</c>, <c>DeadlineExceeded</c>, <c>ResourceExhausted</c>, <c>Aborted</c> and
/// <c>Internal</c> errors of the client's HTTP/2 transport (an unanswered keep-alive ping while etcd is frozen) and etcd's
/// own <c>Unknown: context deadline exceeded</c> (a member without quorum) become <see cref="MetadataStoreUnavailableException"/> naming the endpoints and the operation. Reads, lease grants
/// and revokes and watch creation are retried <see cref="MetadataStoreOptions.ReadRetries"/> times with back-off first;
/// writes are never retried. Each request has a deadline of <see cref="MetadataStoreOptions.OperationTimeout"/>.</para>
/// </remarks>
public sealed partial class EtcdMetadataStore : IMetadataStore
{
    private readonly byte[] _root;
    private readonly ByteString _rootStart;
    private readonly ByteString _rootEnd;
    private readonly string _endpointsText;
    private readonly int _endpointCount;
    private int _disposed;

    private EtcdMetadataStore(IReadOnlyList<string> endpoints, string root, MetadataStoreOptions options)
    {
        Options = options;
        Time = options.TimeProvider;
        LoggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger<EtcdMetadataStore>();
        _endpointsText = string.Join(',', endpoints);
        _endpointCount = endpoints.Count;
        RootPrefix = NormalizeRoot(root);
        _root = Encoding.UTF8.GetBytes(RootPrefix);
        _rootStart = ByteString.CopyFrom(_root);
        _rootEnd = ByteString.CopyFrom(MetadataKeys.PrefixEnd(_root)!);
        Location = $"etcd://{_endpointsText}{RootPrefix.TrimEnd('/')}";

        Endpoints = new EtcdEndpoints([.. endpoints.Select(e => new EtcdEndpoint(e, CreateChannel(e, options)))],
            (endpoint, callOptions) => endpoint.Kv.RangeAsync(
                new RangeRequest { Key = _rootStart, RangeEnd = _rootEnd, Limit = 1, KeysOnly = true }, callOptions).ResponseAsync,
            options.OperationTimeout, Time, Logger);
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <summary>The prefix under which every key is stored in etcd, with a leading and a trailing slash (e.g. <c>/dl/</c>).</summary>
    public string RootPrefix { get; }

    internal MetadataStoreOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    /// <summary>The members, with the ones that missed a deadline taken out of rotation.</summary>
    internal EtcdEndpoints Endpoints { get; }

    internal string EndpointsText => _endpointsText;

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Connects to etcd and checks that it answers (a linearizable read under the root).</summary>
    /// <param name="endpoints">The members' client endpoints, as <c>host:port</c>.</param>
    /// <param name="root">The root under which keys are stored (<c>dl</c> → <c>/dl/</c>); empty for <c>/</c>.</param>
    /// <param name="options">Settings; defaults when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    /// <returns>The connected store.</returns>
    /// <exception cref="MetadataStoreUnavailableException">etcd did not answer.</exception>
    public static async ValueTask<EtcdMetadataStore> ConnectAsync(IReadOnlyList<string> endpoints, string root,
        MetadataStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(root);
        if (endpoints.Count == 0)
            throw new ArgumentException("At least one etcd endpoint (host:port) is required.", nameof(endpoints));
        var store = new EtcdMetadataStore(endpoints, root, options ?? new MetadataStoreOptions());
        try
        {
            await store.Endpoints.WaitForFirstAnswerAsync(store.Options.OperationTimeout, cancellationToken);
            await store.CallAsync(new RangeRequest { Key = store._rootStart, RangeEnd = store._rootEnd, Limit = 1, KeysOnly = true },
                static (s, r, o) => s.Kv.RangeAsync(r, o), "connect (read under the root)", null, idempotent: true, cancellationToken);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    private static string NormalizeRoot(string root)
    {
        string trimmed = root.Trim('/');
        return trimmed.Length == 0 ? "/" : "/" + trimmed + "/";
    }

    /// <summary>One HTTP/2 channel per member: the store picks the member of each call itself (<see cref="EtcdEndpoints"/>).</summary>
    private static GrpcChannel CreateChannel(string endpoint, MetadataStoreOptions options)
    {
        (string host, int port) = ParseEndpoint(endpoint);
        string authority = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        return GrpcChannel.ForAddress($"http://{authority}", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = options.ConnectTimeout,
                // Finds dead connections under idle watch and keep-alive streams. etcd refuses pings more often than 5 s.
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                EnableMultipleHttp2Connections = true,
            },
            DisposeHttpClient = true,
            ThrowOperationCanceledOnCancellation = true,
            MaxReceiveMessageSize = 64 * 1024 * 1024,
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
            MaxReconnectBackoff = options.MaxReconnectBackoff,
            // No retry policy: the store decides what may be retried (reads), and never retries writes blindly.
        });
    }

    private static (string Host, int Port) ParseEndpoint(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || colon == endpoint.Length - 1 || !int.TryParse(endpoint.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
            throw new ArgumentException($"The etcd endpoint '{endpoint}' is not host:port.", nameof(endpoint));
        string host = endpoint[..colon].Trim('[', ']');
        return (host, port);
    }

    internal ByteString EtcdKey(string key) => UnsafeByteOperations.UnsafeWrap(MetadataKeys.Encode(_root, key));

    internal (ByteString From, ByteString To) PrefixRange(string prefix)
    {
        if (prefix.Length == 0)
            return (_rootStart, _rootEnd);
        byte[] from = MetadataKeys.Encode(_root, prefix);
        // The root ends with '/', so a prefix under it always has an end.
        return (UnsafeByteOperations.UnsafeWrap(from), UnsafeByteOperations.UnsafeWrap(MetadataKeys.PrefixEnd(from)!));
    }

    internal string UserKey(ByteString etcdKey) => Encoding.UTF8.GetString(etcdKey.Span[_root.Length..]);

    private VersionedValue ToValue(Mvccpb.KeyValue kv) =>
        new(UserKey(kv.Key), kv.Value.Memory, kv.ModRevision, kv.CreateRevision, kv.Lease);

    /// <inheritdoc />
    public async ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.ValidateKey(key);
        RangeResponse response = await CallAsync(new RangeRequest { Key = EtcdKey(key) },
            static (s, r, o) => s.Kv.RangeAsync(r, o), "get", key, idempotent: true, cancellationToken);
        return response.Kvs.Count == 0 ? null : ToValue(response.Kvs[0]);
    }

    /// <inheritdoc />
    public ValueTask<MetadataListing> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        (ByteString from, ByteString to) = PrefixRange(prefix);
        return ListAsync(from, to, 0, "list prefix", prefix, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<MetadataListing> ListRangeAsync(string fromKey, string? toKey, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fromKey);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ByteString from = fromKey.Length == 0 ? _rootStart : EtcdKey(fromKey);
        ByteString to = toKey is null ? _rootEnd : EtcdKey(toKey);
        return ListAsync(from, to, limit, "list range from", fromKey, cancellationToken);
    }

    private async ValueTask<MetadataListing> ListAsync(ByteString from, ByteString to, int limit, string operation, string key,
        CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            var items = new List<VersionedValue>();
            long revision = 0;
            ByteString next = from;
            try
            {
                while (true)
                {
                    int page = Options.ListPageSize;
                    if (limit > 0)
                        page = Math.Min(page, limit - items.Count);
                    // Later pages read at the first page's revision: the listing stays one snapshot.
                    var request = new RangeRequest { Key = next, RangeEnd = to, Limit = page, Revision = revision };
                    RangeResponse response = await CallAsync(request, static (s, r, o) => s.Kv.RangeAsync(r, o),
                        operation, key, idempotent: true, cancellationToken);
                    if (revision == 0)
                        revision = response.Header.Revision;
                    foreach (Mvccpb.KeyValue kv in response.Kvs)
                        items.Add(ToValue(kv));
                    if (!response.More || response.Kvs.Count == 0 || (limit > 0 && items.Count >= limit))
                        return new MetadataListing(items, revision);
                    next = KeyAfter(response.Kvs[^1].Key);
                }
            }
            catch (MetadataStoreException e) when (attempt < 2 && e.InnerException is RpcException { StatusCode: GrpcStatusCode.OutOfRange })
            {
                // The pinned revision was compacted between two pages: list again from a fresh revision.
            }
        }
    }

    private static ByteString KeyAfter(ByteString key)
    {
        byte[] next = new byte[key.Length + 1];
        key.Span.CopyTo(next);
        return UnsafeByteOperations.UnsafeWrap(next);
    }

    /// <inheritdoc />
    public async ValueTask<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default)
    {
        MetadataKeys.ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfNegative(leaseId);
        var request = new PutRequest { Key = EtcdKey(key), Value = ByteString.CopyFrom(value.Span), Lease = leaseId };
        PutResponse response = await CallAsync(request, static (s, r, o) => s.Kv.PutAsync(r, o), "put", key,
            idempotent: false, cancellationToken, leaseId);
        return response.Header.Revision;
    }

    /// <inheritdoc />
    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.ValidateKey(key);
        DeleteRangeResponse response = await CallAsync(new DeleteRangeRequest { Key = EtcdKey(key) },
            static (s, r, o) => s.Kv.DeleteRangeAsync(r, o), "delete", key, idempotent: false, cancellationToken);
        return response.Deleted > 0;
    }

    /// <inheritdoc />
    public async ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        (ByteString from, ByteString to) = PrefixRange(prefix);
        DeleteRangeResponse response = await CallAsync(new DeleteRangeRequest { Key = from, RangeEnd = to },
            static (s, r, o) => s.Kv.DeleteRangeAsync(r, o), "delete prefix", prefix, idempotent: false, cancellationToken);
        return response.Deleted;
    }

    /// <inheritdoc />
    public async ValueTask<TransactionResult> CommitAsync(MetadataTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        transaction.Validate();
        var request = new TxnRequest();
        foreach (TxnCondition condition in transaction.Conditions)
        {
            var compare = new Compare { Key = EtcdKey(condition.Key) };
            switch (condition.Kind)
            {
                case TxnConditionKind.VersionEquals:
                    compare.Target = Compare.Types.CompareTarget.Mod;
                    compare.Result = Compare.Types.CompareResult.Equal;
                    compare.ModRevision = condition.Version;
                    break;
                case TxnConditionKind.Absent:
                    compare.Target = Compare.Types.CompareTarget.Create;
                    compare.Result = Compare.Types.CompareResult.Equal;
                    compare.CreateRevision = 0;
                    break;
                default:
                    compare.Target = Compare.Types.CompareTarget.Create;
                    compare.Result = Compare.Types.CompareResult.Greater;
                    compare.CreateRevision = 0;
                    break;
            }
            request.Compare.Add(compare);
        }
        long leaseId = 0;
        foreach (TxnOperation operation in transaction.Operations)
        {
            switch (operation.Kind)
            {
                case TxnOperationKind.Put:
                    request.Success.Add(new RequestOp
                    {
                        RequestPut = new PutRequest
                        {
                            Key = EtcdKey(operation.Key),
                            Value = ByteString.CopyFrom(operation.Value.Span),
                            Lease = operation.LeaseId,
                        },
                    });
                    leaseId = leaseId == 0 || leaseId == operation.LeaseId ? operation.LeaseId : leaseId;
                    break;
                case TxnOperationKind.Delete:
                    request.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = EtcdKey(operation.Key) } });
                    break;
                default:
                    (ByteString from, ByteString to) = PrefixRange(operation.Key);
                    request.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = from, RangeEnd = to } });
                    break;
            }
        }
        TxnResponse response = await CallAsync(request, static (s, r, o) => s.Kv.TxnAsync(r, o), "commit a transaction", null,
            idempotent: false, cancellationToken, leaseId);
        return new TransactionResult(response.Succeeded, response.Header.Revision);
    }

    /// <summary>Runs one unary call with a deadline; retries idempotent ones while etcd is unavailable; translates errors.</summary>
    internal async Task<TResponse> CallAsync<TRequest, TResponse>(TRequest request,
        Func<EtcdEndpoint, TRequest, CallOptions, AsyncUnaryCall<TResponse>> call, string operation, string? key,
        bool idempotent, CancellationToken cancellationToken, long leaseId = 0)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        for (int attempt = 0; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var callOptions = new CallOptions(deadline: DateTime.UtcNow + Options.OperationTimeout, cancellationToken: cancellationToken);
            EtcdEndpoint endpoint = Endpoints.Pick();
            try
            {
                using AsyncUnaryCall<TResponse> pending = call(endpoint, request, callOptions);
                TResponse response = await pending.ResponseAsync;
                Endpoints.Answered(endpoint);
                return response;
            }
            catch (Exception e) when (NoteFailure(endpoint, e, cancellationToken))
            {
                throw; // Not reached: NoteFailure only records the outcome and answers false.
            }
            catch (RpcException e) when (idempotent && attempt < Options.ReadRetries && IsConnectionFailure(e)
                && !cancellationToken.IsCancellationRequested && !IsDisposed)
            {
                await Task.Delay(Backoff(attempt), Time, cancellationToken);
            }
            catch (RpcException e) when (idempotent && CanFailOver(attempt) && IsDeadline(e)
                && !cancellationToken.IsCancellationRequested && !IsDisposed)
            {
                // A member that did not answer in time (frozen, or without quorum) is out of rotation now: the next
                // attempt goes to another member.
            }
            catch (OperationCanceledException) when (idempotent && CanFailOver(attempt)
                && !cancellationToken.IsCancellationRequested && !IsDisposed)
            {
                // The channel's own deadline (see below): fail over to another member the same way.
            }
            catch (RpcException e) when (e.StatusCode == GrpcStatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException($"{operation} was cancelled.", e, cancellationToken);
            }
            catch (RpcException e)
            {
                throw Translate(e, operation, key, write: !idempotent, leaseId);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                // The channel throws OperationCanceledException (not RpcException) when the deadline passes: etcd is
                // frozen or unreachable. That is a retryable outage, never a cancellation by the caller.
                throw Translate(new RpcException(new Status(GrpcStatusCode.DeadlineExceeded, "deadline exceeded", e)),
                    operation, key, write: !idempotent, leaseId);
            }
        }
    }

    /// <summary>
    /// Records how a call to <paramref name="endpoint"/> failed: a missed deadline or a failed connection takes the member
    /// out of rotation (<see cref="EtcdEndpoints.Failed"/>); any other answer from etcd shows that it is alive.
    /// Always false (used as an exception filter that lets the exception through).
    /// </summary>
    internal bool NoteFailure(EtcdEndpoint endpoint, Exception e, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested || IsDisposed)
            return false;
        switch (e)
        {
            case RpcException rpc when IsConnectionFailure(rpc) || IsDeadline(rpc):
                Endpoints.Failed(endpoint, $"{rpc.StatusCode}: {rpc.Status.Detail}");
                break;
            case OperationCanceledException:
                Endpoints.Failed(endpoint, $"no answer within {Options.OperationTimeout.TotalSeconds:0.###} s");
                break;
            case RpcException rpc when rpc.StatusCode != GrpcStatusCode.Cancelled:
                Endpoints.Answered(endpoint);
                break;
        }
        return false;
    }

    /// <summary>
    /// Whether an idempotent call whose deadline passed may be tried again on another member: only with several
    /// endpoints (the member that missed it is out of rotation, so the next attempt goes to another one), at most once
    /// per other member, so a stalled member does not block a call that the others can answer. With a single endpoint a
    /// deadline is final.
    /// </summary>
    internal bool CanFailOver(int attempt) => attempt < _endpointCount - 1;

    /// <summary>Whether the call's deadline passed: the client's own, or etcd's <c>context deadline exceeded</c>.</summary>
    internal static bool IsDeadline(RpcException e) => e.StatusCode == GrpcStatusCode.DeadlineExceeded || IsServerDeadline(e);

    /// <summary>The wait before retry or reconnect number <paramref name="attempt"/> (from 0): doubling, capped.</summary>
    internal TimeSpan Backoff(int attempt)
    {
        double milliseconds = Options.RetryBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16));
        return TimeSpan.FromMilliseconds(Math.Min(milliseconds, Options.MaxReconnectBackoff.TotalMilliseconds));
    }

    /// <summary>
    /// Whether a failed call never got an answer from etcd because the connection failed: <c>Unavailable</c>, or
    /// <c>Internal</c> raised by the client's own HTTP/2 transport (a keep-alive ping that etcd did not answer because it
    /// is frozen, a reset connection). Such calls may be retried once etcd is reachable again.
    /// </summary>
    internal static bool IsConnectionFailure(RpcException e) =>
        e.StatusCode == GrpcStatusCode.Unavailable
        || (e.StatusCode == GrpcStatusCode.Internal && IsTransportError(e.Status.DebugException));

    /// <summary>etcd's server-side deadline: a member without quorum answers <c>Unknown: context deadline exceeded</c>
    /// when the request's deadline passes while it waits for a leader or for consensus.</summary>
    private static bool IsServerDeadline(RpcException e) =>
        e.StatusCode == GrpcStatusCode.Unknown && e.Status.Detail.Contains("context deadline exceeded", StringComparison.OrdinalIgnoreCase);

    private static bool IsTransportError(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or HttpProtocolException or IOException or System.Net.Sockets.SocketException)
                return true;
        }
        return false;
    }

    /// <summary>Metadata for streams (watches, lease keep-alives): etcd ends them when the member loses its leader, so a
    /// member cut off from the quorum does not keep them silently.</summary>
    internal static readonly Grpc.Core.Metadata RequireLeader = new() { { "hasleader", "true" } };

    /// <summary>Turns a gRPC failure into a typed error naming the endpoints, the root and the operation.</summary>
    internal MetadataStoreException Translate(RpcException e, string operation, string? key, bool write, long leaseId = 0)
    {
        string what = key is null ? operation : $"{operation} '{key}'";
        string store = $"etcd at {_endpointsText} (root '{RootPrefix}')";
        switch (e.StatusCode)
        {
            case GrpcStatusCode.Internal when IsTransportError(e.Status.DebugException):
            case GrpcStatusCode.Unknown when IsServerDeadline(e):
            case GrpcStatusCode.Unavailable:
            case GrpcStatusCode.DeadlineExceeded:
            case GrpcStatusCode.ResourceExhausted:
            case GrpcStatusCode.Aborted:
                string state = e.StatusCode == GrpcStatusCode.DeadlineExceeded || IsServerDeadline(e)
                    ? $"did not answer within {Options.OperationTimeout.TotalSeconds:0.###} s"
                    : "is unavailable";
                return new MetadataStoreUnavailableException(
                    $"{store} {state}: {what} failed ({e.StatusCode}: {e.Status.Detail}). " +
                    (write ? "The write may or may not have been applied: read the keys before retrying it. " : "") +
                    "Check that etcd is running and reachable from here; the operation can be retried.",
                    outcomeUnknown: write, e);
            case GrpcStatusCode.NotFound when e.Status.Detail.Contains("lease not found", StringComparison.OrdinalIgnoreCase):
                return new LeaseNotFoundException(leaseId,
                    $"{store}: {what} failed: lease {(leaseId == 0 ? "" : leaseId.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ")}" +
                    "does not exist (it expired or was revoked).", e);
            case GrpcStatusCode.Unauthenticated:
            case GrpcStatusCode.PermissionDenied:
                return new MetadataStoreException(StatusCode.MetadataStoreError,
                    $"{store} refused {what}: {e.Status.Detail}. Check the credentials and permissions for the root.", isRetryable: false, e);
            default:
                return new MetadataStoreException(StatusCode.MetadataStoreError,
                    $"{store} rejected {what} ({e.StatusCode}: {e.Status.Detail}).", isRetryable: false, e);
        }
    }

    /// <summary>Stops every lease keep-alive (leases expire one TTL later unless revoked first) and every watch (they end
    /// with <see cref="MetadataWatchLostException"/>), then closes the connection.</summary>
    /// <returns>A task that completes when everything stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await StopLeasesAsync();
        await StopWatchesAsync();
        await Endpoints.DisposeAsync();
    }
}
