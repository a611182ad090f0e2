using System.Net.Http;
using System.Net.Sockets;
using DistributedLog.Client.Routing;
using DistributedLog.Client.Writes;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Checksums;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using CoreDlsn = DistributedLog.Protocol.Records.Dlsn;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;

namespace DistributedLog.Client;

/// <summary>
/// The client of DistributedLog's write proxies (DistributedLog's <c>DistributedLogClient</c>). It discovers the proxies,
/// routes each log to a proxy by consistent hashing, remembers which proxy owns which log, follows FOUND redirects with
/// bounded backoff, retries what is safe to retry and fails at once on client errors (record too large, end of stream,
/// invalid name, …). Errors are the core library's typed exceptions.
/// </summary>
/// <remarks>
/// A write whose outcome is unknown (the proxy went away after receiving it) is never retried by the client: it fails
/// with <see cref="StatusCode.WriteException"/>, so a record is never written twice behind the caller's back.
/// </remarks>
public sealed partial class DistributedLogClient : IAsyncDisposable
{
    private readonly DistributedLogClientOptions _options;
    private readonly ProxyDirectory _proxies;
    private readonly ILogger _logger;

    private DistributedLogClient(DistributedLogClientOptions options)
    {
        _options = options;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<DistributedLogClient>();
        _proxies = new ProxyDirectory(options, _logger);
    }

    /// <summary>Creates a client (no connection is made until the first request).</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public static DistributedLogClient Create(DistributedLogClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new DistributedLogClient(options);
    }

    /// <summary>Creates a client of the proxies at <paramref name="endpoints"/> (the others are discovered from them).</summary>
    public static DistributedLogClient Create(params string[] endpoints) => Create(new DistributedLogClientOptions { Endpoints = endpoints });

    /// <summary>The proxies the client knows now.</summary>
    public IReadOnlyList<string> KnownProxies => _proxies.Endpoints;

    internal DistributedLogClientOptions Options => _options;

    internal ProxyDirectory Proxies => _proxies;

    /// <summary>
    /// Writes one record with the given txid; completes with its DLSN once durable on the ack quorum. A record with the
    /// record-set flag is sent as a record set (its DLSN is that of its first record; see <see cref="WriteRecordSetAsync(string, LogRecordSetBuilder, long?, CancellationToken)"/>).
    /// </summary>
    public async Task<CoreDlsn> WriteAsync(string log, LogRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return (await WriteAsync(log, ToWire(record.Payload, record.TxId, record.IsRecordSet), cancellationToken)).Dlsn;
    }

    /// <summary>Writes one record; the proxy assigns its txid (time-based, increasing).</summary>
    public Task<LogWriteResult> WriteAsync(string log, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        WriteAsync(log, ToWire(payload, null), cancellationToken);

    private async Task<LogWriteResult> WriteAsync(string log, Record record, CancellationToken cancellationToken)
    {
        var request = new WriteRequest { Log = log, Record = record };
        var response = await InvokeAsync(log, ownerOnly: true, mayExecute: true,
            (client, call) => client.WriteAsync(request, call), r => r.Header, cancellationToken);
        return new LogWriteResult(response.Dlsn.ToCore("dlsn"), response.Txid);
    }

    /// <summary>
    /// Writes records in order in one request; stops at the first failure: earlier records succeed, the failing one
    /// carries its error, later ones fail as cancelled. The tasks are in the order of <paramref name="records"/>. Records
    /// with the record-set flag go as record sets (each completes with its first record's DLSN).
    /// </summary>
    public async Task<IReadOnlyList<Task<LogWriteResult>>> WriteBulkAsync(string log, IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var request = new WriteBulkRequest { Log = log };
        request.Records.AddRange(records.Select(r => ToWire(r.Payload, r.TxId, r.IsRecordSet)));
        var response = await InvokeAsync(log, ownerOnly: true, mayExecute: true,
            (client, call) => client.WriteBulkAsync(request, call), r => r.Header, cancellationToken);
        return [.. response.Results.Select(r => r.Header.IsOk()
            ? Task.FromResult(new LogWriteResult(r.Dlsn.ToCore("dlsn"), r.Txid))
            : Task.FromException<LogWriteResult>(r.Header.ToException()))];
    }

    /// <summary>
    /// Opens a write stream to the log's owner: many writes in flight over one gRPC stream, acknowledged in order. See
    /// <see cref="LogWriteStream"/>.
    /// </summary>
    public LogWriteStream OpenWriteStream(string log, LogWriteStreamOptions? options = null)
    {
        log = Naming.LogName.Validate(log);
        return new LogWriteStream(this, log, options ?? new LogWriteStreamOptions());
    }

    /// <summary>Makes everything written so far visible to readers (the proxy's writer commits a control record).</summary>
    public Task HeartbeatAsync(string log, CancellationToken cancellationToken = default) =>
        InvokeAsync(log, ownerOnly: true, mayExecute: false,
            (client, call) => client.HeartbeatAsync(new HeartbeatRequest { Log = log }, call), r => r.Header, cancellationToken);

    /// <summary>Marks the log's segments before <paramref name="dlsn"/> truncated; false when nothing was left to truncate.</summary>
    public async Task<bool> TruncateAsync(string log, CoreDlsn dlsn, CancellationToken cancellationToken = default) =>
        (await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.TruncateAsync(new TruncateRequest { Log = log, Dlsn = dlsn.ToWire() }, call), r => r.Header, cancellationToken)).Truncated;

    /// <summary>Asks the owning proxy to close the log's writer and release it.</summary>
    public async Task ReleaseAsync(string log, CancellationToken cancellationToken = default)
    {
        await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.ReleaseAsync(new ReleaseRequest { Log = log }, call), r => r.Header, cancellationToken);
        _proxies.ForgetOwner(log);
    }

    /// <summary>Seals the log: every later write fails with <see cref="LogEndOfStreamException"/>. Returns the last txid.</summary>
    public async Task<long> MarkEndOfStreamAsync(string log, CancellationToken cancellationToken = default) =>
        (await InvokeAsync(log, ownerOnly: true, mayExecute: false,
            (client, call) => client.MarkEndOfStreamAsync(new MarkEndOfStreamRequest { Log = log }, call), r => r.Header, cancellationToken)).LastTxid;

    /// <summary>Creates a log.</summary>
    /// <exception cref="LogExistsException">It exists.</exception>
    public Task CreateLogAsync(string log, CancellationToken cancellationToken = default) =>
        InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.CreateAsync(new CreateRequest { Log = log }, call), r => r.Header, cancellationToken);

    /// <summary>Deletes a log and its data (its owner releases it first).</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task DeleteLogAsync(string log, CancellationToken cancellationToken = default)
    {
        await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.DeleteAsync(new DeleteRequest { Log = log }, call), r => r.Header, cancellationToken);
        _proxies.ForgetOwner(log);
    }

    /// <summary>The logs whose names start with <paramref name="prefix"/>.</summary>
    public async Task<IReadOnlyList<string>> ListLogsAsync(string prefix = "", CancellationToken cancellationToken = default) =>
        (await InvokeAsync(null, ownerOnly: false, mayExecute: false,
            (client, call) => client.ListAsync(new ListRequest { Prefix = prefix }, call), r => r.Header, cancellationToken)).Logs;

    /// <summary>The proxy that owns the log's writer, or null when none does.</summary>
    public async Task<string?> GetOwnerAsync(string log, CancellationToken cancellationToken = default)
    {
        var owner = (await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.GetOwnerAsync(new GetOwnerRequest { Log = log }, call), r => r.Header, cancellationToken)).Owner;
        return owner.Length == 0 ? null : owner;
    }

    /// <summary>Moves a subscriber's committed position forward (never back); returns the committed position after the call.</summary>
    public async Task<CoreDlsn?> CommitSubscriptionAsync(string log, string subscriber, CoreDlsn position, CancellationToken cancellationToken = default)
    {
        var response = await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.CommitSubscriptionAsync(new CommitSubscriptionRequest { Log = log, Subscriber = subscriber, Dlsn = position.ToWire() }, call),
            r => r.Header, cancellationToken);
        return response.Committed?.ToCore("committed");
    }

    /// <summary>Segments, first and last DLSN, last txid, record count, end of stream and owner of a log.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task<LogDescription> DescribeLogAsync(string log, CancellationToken cancellationToken = default)
    {
        var r = await InvokeAsync(log, ownerOnly: false, mayExecute: false,
            (client, call) => client.DescribeAsync(new DescribeRequest { Log = log }, call), r => r.Header, cancellationToken);
        return new LogDescription
        {
            Name = log,
            Segments = [.. r.Segments.Select(s => new LogSegmentInfo(s.LogSegmentSequenceNo, s.LedgerId, s.InProgress, s.FirstTxid, s.LastTxid, s.RecordCount,
                s.StartSequenceId, s.Truncation, DateTimeOffset.FromUnixTimeMilliseconds(s.CreatedUnixMs),
                s.CompletedUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(s.CompletedUnixMs)))],
            FirstDlsn = r.FirstDlsn?.ToCore("first_dlsn"),
            LastDlsn = r.LastDlsn?.ToCore("last_dlsn"),
            LastTxId = r.LastTxid,
            RecordCount = r.RecordCount,
            EndOfStream = r.EndOfStream,
            Owner = r.Owner.Length == 0 ? null : r.Owner,
        };
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _proxies.DisposeAsync();

    internal Record ToWire(ReadOnlyMemory<byte> payload, long? txId, bool recordSet = false)
    {
        var record = new Record { Payload = UnsafeByteOperations.UnsafeWrap(payload), RecordSet = recordSet };
        if (txId is { } t)
        {
            record.Txid = t;
        }

        if (_options.SendChecksums)
        {
            record.Crc32C = Crc32C.Compute(payload.Span);
        }

        return record;
    }

    /// <summary>
    /// Sends a unary request to the log's proxy, following redirects and retrying what is safe within the retry budget:
    /// FOUND (to the named owner), a proxy that cannot be reached (another one), one that is draining or full, a log whose
    /// previous owner's lease has not expired. Anything else is thrown as the typed error at once.
    /// </summary>
    /// <param name="log">The log the request is about (routes it), or null for namespace-wide requests.</param>
    /// <param name="ownerOnly">Whether only the owner can serve it (a success teaches the client the owner).</param>
    /// <param name="mayExecute">Whether a lost response leaves the outcome unknown (writes): then a broken call is not retried.</param>
    /// <param name="call">Starts the call on a proxy's client.</param>
    /// <param name="header">The response's header.</param>
    /// <param name="cancellationToken">Abandons the operation.</param>
    internal async Task<TResponse> InvokeAsync<TResponse>(string? log, bool ownerOnly, bool mayExecute,
        Func<DistributedLogProxy.DistributedLogProxyClient, CallOptions, AsyncUnaryCall<TResponse>> call, Func<TResponse, ResponseHeader?> header,
        CancellationToken cancellationToken)
    {
        await _proxies.RefreshAsync(force: false, cancellationToken);
        var retry = new RetryState(_options);
        string? avoid = null;
        while (true)
        {
            string endpoint = _proxies.Route(log, avoid);
            avoid = null;
            TResponse response;
            try
            {
                response = await call(_proxies.Client(endpoint), new CallOptions(deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: cancellationToken));
            }
            catch (RpcException e) when (e.StatusCode == global::Grpc.Core.StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException e)
            {
                var error = OnCallFailed(endpoint, log, e, mayExecute);

                // A write whose call timed out or broke may have been executed: resending it could write it twice.
                bool outcomeUnknown = mayExecute && error.Code is StatusCode.FlushTimeout or StatusCode.WriteException;
                if (outcomeUnknown || !error.IsRetryable || ShouldFailFast(e) || !await retry.BackoffAsync(cancellationToken))
                {
                    throw error;
                }

                await _proxies.RefreshAsync(force: true, cancellationToken);
                continue;
            }

            var h = header(response);
            if (h.IsOk())
            {
                if (ownerOnly && log is not null)
                {
                    _proxies.SetOwner(log, endpoint);
                }

                return response;
            }

            var failure = h!.ToException();
            switch (failure.Code)
            {
                case StatusCode.Found when failure is OwnershipMovedException { Owner.Length: > 0 } moved && moved.Owner != endpoint && !_proxies.IsDown(moved.Owner):
                    _proxies.SetOwner(log!, moved.Owner);
                    if (retry.Redirects++ < 2 || await retry.BackoffAsync(cancellationToken))
                    {
                        continue;
                    }

                    break;
                case StatusCode.Found:
                    // The named owner is this proxy's stale view or unreachable: its lease has to expire first.
                    _proxies.ForgetOwner(log);
                    if (await retry.BackoffAsync(cancellationToken))
                    {
                        continue;
                    }

                    break;
                case StatusCode.ServiceUnavailable or StatusCode.TooManyStreams:
                    _proxies.ForgetOwner(log);
                    avoid = endpoint;
                    if (await retry.BackoffAsync(cancellationToken))
                    {
                        continue;
                    }

                    break;
                case StatusCode.StreamNotReady:
                    if (await retry.BackoffAsync(cancellationToken))
                    {
                        continue;
                    }

                    break;
            }

            if (ownerOnly && failure.Code is StatusCode.LockingException or StatusCode.LedgerFenced or StatusCode.BkTransmitError or StatusCode.WriteException)
            {
                _proxies.ForgetOwner(log);
            }

            throw failure;
        }
    }

    /// <summary>The error for a call that broke; marks the proxy down when it could not be reached.</summary>
    internal DlException OnCallFailed(string endpoint, string? log, RpcException e, bool mayExecute)
    {
        if (e.StatusCode == global::Grpc.Core.StatusCode.DeadlineExceeded)
        {
            // A proxy that does not answer within the call timeout may be frozen (a long GC pause, SIGSTOP, a stuck disk):
            // send the next requests elsewhere for a while; once its ownership lease expires another proxy takes its logs.
            _proxies.MarkDown(endpoint);
            _proxies.ForgetOwner(log);
            return mayExecute
                ? new DlException(StatusCode.FlushTimeout, $"Proxy {endpoint} did not answer within {_options.CallTimeout.TotalSeconds:0.###} s; the write's outcome is unknown.")
                : new DlException(StatusCode.Timeout, $"Proxy {endpoint} did not answer within {_options.CallTimeout.TotalSeconds:0.###} s.");
        }

        if (e.StatusCode is global::Grpc.Core.StatusCode.ResourceExhausted or global::Grpc.Core.StatusCode.InvalidArgument
            or global::Grpc.Core.StatusCode.Unimplemented or global::Grpc.Core.StatusCode.PermissionDenied or global::Grpc.Core.StatusCode.Unauthenticated)
        {
            // The proxy is up and refused the call itself (e.g. a message over its size limit): a client error, not a
            // reason to avoid the proxy. Nothing was executed.
            return DlExceptions.FromStatus(e.StatusCode == global::Grpc.Core.StatusCode.ResourceExhausted ? StatusCode.TooLargeRecord : StatusCode.BadRequest,
                $"Proxy {endpoint} refused the request: {e.Status.Detail}");
        }

        _proxies.MarkDown(endpoint);
        _proxies.ForgetOwner(log);
        bool notSent = IsConnectFailure(e);
        _logger.LogDebug("Call to proxy {Endpoint} failed ({Status}: {Detail})", endpoint, e.StatusCode, e.Status.Detail);
        if (mayExecute && !notSent)
        {
            return new DlException(StatusCode.WriteException,
                $"The connection to proxy {endpoint} broke before the write was acknowledged ({Describe(e)}); it may or may not have been written.");
        }

        return new DlException(StatusCode.ServiceUnavailable, $"Proxy {endpoint} is unreachable ({Describe(e)}).");
    }

    /// <summary>With <see cref="DistributedLogClientOptions.FailFastWhenNoProxyReachable"/>: whether this connection failure leaves no proxy to try.</summary>
    internal bool ShouldFailFast(RpcException e) =>
        _options.FailFastWhenNoProxyReachable && IsConnectFailure(e) && _proxies.Endpoints.All(_proxies.IsDown);

    /// <summary>Whether the call never reached the proxy (connection refused or reset while connecting).</summary>
    internal static bool IsConnectFailure(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException ?? e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
                || inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The most telling message of a failed call: the socket's, else the HTTP layer's, else gRPC's detail.</summary>
    internal static string Describe(RpcException e)
    {
        string? http = null;
        for (Exception? inner = e.Status.DebugException ?? e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.Message;
            }

            http ??= inner is HttpRequestException or IOException ? inner.Message : null;
        }

        return http ?? e.Status.Detail;
    }

    /// <summary>Backoff and budget of one operation's retries.</summary>
    internal sealed class RetryState(DistributedLogClientOptions options)
    {
        private readonly long _deadline = Environment.TickCount64 + (long)options.RetryBudget.TotalMilliseconds;
        private TimeSpan _next = options.InitialBackoff;

        public int Redirects { get; set; }

        /// <summary>Waits before the next attempt; false when the retry budget is spent.</summary>
        public async Task<bool> BackoffAsync(CancellationToken cancellationToken)
        {
            long left = _deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return false;
            }

            var pause = TimeSpan.FromMilliseconds(Math.Min(left, _next.TotalMilliseconds * (0.5 + Random.Shared.NextDouble())));
            _next = TimeSpan.FromTicks(Math.Min(options.MaxBackoff.Ticks, _next.Ticks * 2));
            await Task.Delay(pause, cancellationToken);
            return true;
        }
    }
}
