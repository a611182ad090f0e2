using System.Diagnostics;
using System.Threading.Channels;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Proxy.Limits;
using DistributedLog.Proxy.Ownership;
using DistributedLog.Proxy.Reads;
using DistributedLog.Proxy.Registration;
using DistributedLog.Readers;
using Google.Protobuf;
using Grpc.Core;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;
using Microsoft.Extensions.Logging;
using CoreDlsn = DistributedLog.Protocol.Records.Dlsn;
using WireDlsn = DistributedLog.Grpc.V1.Dlsn;

namespace DistributedLog.Proxy.Services;

/// <summary>
/// The write proxy's gRPC service: DistributedLog's proxy operations, the bidirectional write stream and streaming
/// reads. Log errors travel in each response's header (see the .proto); gRPC errors mean the call itself failed.
/// </summary>
internal sealed partial class DistributedLogProxyService(
    DistributedLogNamespace ns,
    LogOwnershipCache ownership,
    ProxyOptions options,
    ProxyMetrics metrics,
    RateLimiter proxyLimiter,
    ReadFanout reads,
    ILogger<DistributedLogProxyService> logger) : DistributedLogProxy.DistributedLogProxyBase
{
    /// <summary>Most acknowledgements packed into one stream response.</summary>
    private const int MaxAcksPerResponse = 4096;

    /// <summary>Most records packed into one read response.</summary>
    private const int MaxRecordsPerReadResponse = 1000;

    /// <summary>Most payload bytes packed into one read response (a single larger record goes alone).</summary>
    private const int MaxReadResponseBytes = 4 << 20;

    public override Task<WriteResponse> Write(WriteRequest request, ServerCallContext context) =>
        Guard("write", context, async ct =>
        {
            long started = Stopwatch.GetTimestamp();
            var owned = await ownership.AcquireAsync(request.Log, ct);
            var wire = request.Record ?? throw BadRequest("The write request has no record.");
            int records = RecordSets.CountOf(wire, owned.Name);
            Admit(owned, records, wire.Payload.Length);
            var write = owned.Write(wire, out long txId, out _);
            var dlsn = await AwaitWriteAsync(owned, write.AsTask());
            metrics.Written(records, wire.Payload.Length);
            metrics.WriteLatency(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return new WriteResponse { Header = WireConversions.Ok, Dlsn = dlsn.ToWire(), Txid = txId, RecordCount = records };
        }, header => new WriteResponse { Header = header });

    public override Task<WriteBulkResponse> WriteBulk(WriteBulkRequest request, ServerCallContext context) =>
        Guard("write_bulk", context, async ct =>
        {
            var owned = await ownership.AcquireAsync(request.Log, ct);
            Admit(owned, request.Records.Count, request.Records.Sum(r => (long)r.Payload.Length));
            var response = new WriteBulkResponse { Header = WireConversions.Ok };

            // Converted and handed to the writer as one step; the first refused record ends the batch (nothing after it is written).
            var writes = owned.WriteAll(request.Records);
            DlException? failure = null;
            for (int i = 0; i < request.Records.Count; i++)
            {
                if (i < writes.Count)
                {
                    try
                    {
                        var dlsn = await AwaitWriteAsync(owned, writes[i].Write);
                        int records = RecordSets.CountOf(request.Records[i], owned.Name);
                        metrics.Written(records, writes[i].Bytes);
                        response.Results.Add(new WriteResponse { Header = WireConversions.Ok, Dlsn = dlsn.ToWire(), Txid = writes[i].TxId, RecordCount = records });
                        continue;
                    }
                    catch (DlException e)
                    {
                        failure ??= e;
                        response.Results.Add(new WriteResponse { Header = e.ToHeader() });
                        continue;
                    }
                }

                var error = new WriteCancelledException($"Not written: an earlier record of the bulk write failed ({failure?.Message}).");
                response.Results.Add(new WriteResponse { Header = error.ToHeader() });
            }

            return response;
        }, header => new WriteBulkResponse { Header = header });

    public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        Guard("heartbeat", context, async ct =>
        {
            var owned = await ownership.AcquireAsync(request.Log, ct);
            await owned.Writer.CommitAsync(ct);
            return new HeartbeatResponse { Header = WireConversions.Ok };
        }, header => new HeartbeatResponse { Header = header });

    public override Task<TruncateResponse> Truncate(TruncateRequest request, ServerCallContext context) =>
        Guard("truncate", context, async ct =>
        {
            var dlsn = request.Dlsn.ToCore("dlsn");
            var log = ns.OpenLog(request.Log);
            await EnsureExistsAsync(log.Name, ct);
            await MakeAcknowledgedVisibleAsync(log, ct); // any DLSN a write returned is a valid truncation point
            bool truncated = await log.TruncateAsync(dlsn, ct);
            return new TruncateResponse { Header = WireConversions.Ok, Truncated = truncated };
        }, header => new TruncateResponse { Header = header });

    public override Task<ReleaseResponse> Release(ReleaseRequest request, ServerCallContext context) =>
        Guard("release", context, async ct =>
        {
            if (ownership.TryGet(request.Log) is null)
            {
                await EnsureExistsAsync(request.Log, ct);
                await ThrowIfOwnedElsewhereAsync(request.Log, ct);
            }

            await ownership.ReleaseAsync(request.Log, "requested");
            return new ReleaseResponse { Header = WireConversions.Ok };
        }, header => new ReleaseResponse { Header = header });

    public override Task<MarkEndOfStreamResponse> MarkEndOfStream(MarkEndOfStreamRequest request, ServerCallContext context) =>
        Guard("mark_end_of_stream", context, async ct =>
        {
            var owned = await ownership.AcquireAsync(request.Log, ct);
            long lastTxId = await owned.Writer.MarkEndOfStreamAsync(ct);
            await ownership.ReleaseAsync(request.Log, "sealed");
            return new MarkEndOfStreamResponse { Header = WireConversions.Ok, LastTxid = lastTxId };
        }, header => new MarkEndOfStreamResponse { Header = header });

    public override Task<CreateResponse> Create(CreateRequest request, ServerCallContext context) =>
        Guard("create", context, async ct =>
        {
            await ns.CreateLogAsync(request.Log, ct);
            return new CreateResponse { Header = WireConversions.Ok };
        }, header => new CreateResponse { Header = header });

    public override Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context) =>
        Guard("delete", context, async ct =>
        {
            if (ownership.TryGet(request.Log) is not null)
            {
                await ownership.ReleaseAsync(request.Log, "deleted");
            }
            else
            {
                await ThrowIfOwnedElsewhereAsync(request.Log, ct);
            }

            await ns.DeleteLogAsync(request.Log, ct);
            return new DeleteResponse { Header = WireConversions.Ok };
        }, header => new DeleteResponse { Header = header });

    public override Task<ListResponse> List(ListRequest request, ServerCallContext context) =>
        Guard("list", context, async ct =>
        {
            var response = new ListResponse { Header = WireConversions.Ok };
            response.Logs.AddRange(await ns.ListLogsAsync(request.Prefix, ct));
            return response;
        }, header => new ListResponse { Header = header });

    public override Task<DescribeResponse> Describe(DescribeRequest request, ServerCallContext context) =>
        Guard("describe", context, async ct =>
        {
            var log = ns.OpenLog(request.Log);
            if (!await ns.LogExistsAsync(log.Name, ct))
            {
                throw new LogNotFoundException($"Log '{log.Name}' does not exist.");
            }

            await MakeAcknowledgedVisibleAsync(log, ct);
            var response = new DescribeResponse { Header = WireConversions.Ok, LastTxid = -1 };
            var segments = await log.GetSegmentsAsync(ct);
            LogRecordWithDlsn? last = null;
            try
            {
                last = await log.GetLastRecordAsync(ct);
                response.LastDlsn = last.Dlsn.ToWire();
                response.LastTxid = last.TxId;
                response.FirstDlsn = (await log.GetFirstDlsnAsync(ct)).ToWire();
                response.RecordCount = await log.GetRecordCountAsync(ct);
            }
            catch (LogEmptyException)
            {
            }

            foreach (var segment in segments)
            {
                // An in-progress segment's metadata has no count or last txid yet: show what readers see (up to its LAC).
                bool visibleEnd = segment.IsInProgress && last is not null && last.Dlsn.LogSegmentSequenceNo == segment.Lssn;
                response.Segments.Add(new SegmentInfo
                {
                    LogSegmentSequenceNo = segment.Lssn,
                    LedgerId = segment.LedgerId,
                    InProgress = segment.IsInProgress,
                    FirstTxid = segment.FirstTxId,
                    LastTxid = visibleEnd ? last!.TxId : segment.LastTxId,
                    RecordCount = visibleEnd ? last!.PositionWithinSegment : segment.RecordCount,
                    StartSequenceId = segment.StartSequenceId,
                    Truncation = segment.Truncation.ToString(),
                    CreatedUnixMs = segment.CreatedAt.ToUnixTimeMilliseconds(),
                    CompletedUnixMs = segment.CompletionTime?.ToUnixTimeMilliseconds() ?? 0,
                });
            }

            response.EndOfStream = await log.IsEndOfStreamMarkedAsync(ct);
            response.Owner = (await log.GetOwnerAsync(ct))?.Endpoint ?? "";
            return response;
        }, header => new DescribeResponse { Header = header });

    public override Task<GetOwnerResponse> GetOwner(GetOwnerRequest request, ServerCallContext context) =>
        Guard("get_owner", context, async ct =>
        {
            var log = ns.OpenLog(request.Log);
            await EnsureExistsAsync(log.Name, ct);
            var owner = await log.GetOwnerAsync(ct);
            return new GetOwnerResponse { Header = WireConversions.Ok, Owner = owner?.Endpoint ?? "" };
        }, header => new GetOwnerResponse { Header = header });

    public override Task<ListProxiesResponse> ListProxies(ListProxiesRequest request, ServerCallContext context) =>
        Guard("list_proxies", context, async ct =>
        {
            var response = new ListProxiesResponse { Header = WireConversions.Ok };
            response.Endpoints.AddRange(await ProxyRegistration.ListAsync(ns.Store, ns.Metadata.Layout, ct));
            return response;
        }, header => new ListProxiesResponse { Header = header });

    public override Task<CommitSubscriptionResponse> CommitSubscription(CommitSubscriptionRequest request, ServerCallContext context) =>
        Guard("commit_subscription", context, async ct =>
        {
            var log = ns.OpenLog(request.Log);
            if (string.IsNullOrEmpty(request.Subscriber))
            {
                throw BadRequest("The request names no subscriber.");
            }

            await log.Subscriptions.AdvanceAsync(request.Subscriber, request.Dlsn.ToCore("dlsn"), ct);
            var committed = await log.Subscriptions.GetPositionAsync(request.Subscriber, ct);
            return new CommitSubscriptionResponse { Header = WireConversions.Ok, Committed = committed?.ToWire() };
        }, header => new CommitSubscriptionResponse { Header = header });

    private static DlException BadRequest(string message) => new(StatusCode.BadRequest, message);

    /// <summary>
    /// Makes every acknowledged record of the log visible to a read or describe that reports "the end now". Readers see an
    /// in-progress segment only up to its LAC, which lags the last acknowledged writes: when this proxy owns the log, its
    /// writer commits (a control record); when no one does (the owner died and its lease expired) the log is recovered
    /// (fence, find the last entry, complete the segment). Concurrent recoveries, or a writer starting meanwhile (which
    /// recovers the same way), converge through compare-and-set. A log owned by another live proxy is left alone: what
    /// it acknowledged becomes visible within its commit delay.
    /// </summary>
    private async Task MakeAcknowledgedVisibleAsync(LogManager log, CancellationToken ct)
    {
        if (ownership.TryGet(log.Name) is { } owned)
        {
            await owned.Writer.CommitAsync(ct);
            return;
        }

        if (await log.GetOwnerAsync(ct) is not null)
        {
            return;
        }

        var segments = await log.GetSegmentsAsync(ct);
        if (segments.Count > 0 && segments[^1].IsInProgress)
        {
            logger.LogInformation("Recovering log {Log}: its last segment is in progress and no writer owns it", log.Name);
            await log.RecoverAsync(ct);
        }
    }

    /// <summary>Applies the per-log and per-proxy hard limits (soft ones only count).</summary>
    private void Admit(OwnedLog owned, long records, long bytes)
    {
        if (owned.Limiter.IsActive)
        {
            owned.Limiter.Acquire(records, bytes);
        }

        if (proxyLimiter.IsActive)
        {
            proxyLimiter.Acquire(records, bytes);
        }
    }

    /// <summary>Waits for a write's acknowledgement up to the request timeout; a writer failure releases the log so it can move.</summary>
    private async Task<CoreDlsn> AwaitWriteAsync(OwnedLog owned, Task<CoreDlsn> write)
    {
        try
        {
            return await write.WaitAsync(options.RequestTimeout);
        }
        catch (TimeoutException)
        {
            throw new DlException(StatusCode.FlushTimeout,
                $"The write to log '{owned.Name}' was not acknowledged within {options.RequestTimeout.TotalSeconds:0.###} s; its outcome is unknown.");
        }
        catch (Exception e) when (owned.Writer.Failure is not null)
        {
            _ = ownership.ReleaseAfterFailureAsync(owned, e);
            throw;
        }
    }

    private async Task ThrowIfOwnedElsewhereAsync(string log, CancellationToken ct)
    {
        var owner = await ns.OpenLog(log).GetOwnerAsync(ct);
        if (owner?.Endpoint is { Length: > 0 } endpoint && endpoint != ownership.Endpoint)
        {
            metrics.Redirected();
            throw new OwnershipMovedException($"Log '{log}' is owned by proxy {endpoint}.", endpoint);
        }
    }

    /// <summary>
    /// Runs one unary operation: its DistributedLog errors become the response header, anything else an internal error
    /// (logged); the request timeout bounds it.
    /// </summary>
    private async Task<T> Guard<T>(string operation, ServerCallContext context, Func<CancellationToken, Task<T>> run, Func<ResponseHeader, T> failed)
        where T : IMessage
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            var response = await run(timeout.Token);
            metrics.Request(operation, (int)StatusCode.Success);
            return response;
        }
        catch (Exception e) when (ToError(e, operation, timeout.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested,
                                      context.CancellationToken) is { } error)
        {
            metrics.Request(operation, (int)error.Code);
            return failed(error.ToHeader());
        }
    }

    /// <summary>
    /// The DistributedLog error to answer for <paramref name="e"/>; null lets it through (the client went away:
    /// <paramref name="caller"/> was cancelled). A cancellation that is not the caller's (a metadata or bookie deadline
    /// inside) is a retryable unavailability, logged in one line.
    /// </summary>
    private DlException? ToError(Exception e, string operation, bool timedOut, CancellationToken caller) => e switch
    {
        DlException dl => dl,
        OperationCanceledException when timedOut => new DlException(StatusCode.Timeout,
            $"The {operation} request did not complete within {options.RequestTimeout.TotalSeconds:0.###} s."),
        OperationCanceledException when caller.IsCancellationRequested => null,
        OperationCanceledException => Unavailable(e, operation),
        ArgumentException argument => new DlException(StatusCode.BadRequest, argument.Message),
        _ => Unexpected(e, operation),
    };

    private MetadataStoreUnavailableException Unavailable(Exception e, string operation)
    {
        LogInnerDeadline(operation, e.Message);
        return new MetadataStoreUnavailableException(
            $"The proxy could not complete the {operation} request: an inner call hit its deadline ({e.Message}); retry.", outcomeUnknown: false, e);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Operation} request failed: an inner call hit its deadline ({Error})")]
    private partial void LogInnerDeadline(string operation, string error);

    private DlException Unexpected(Exception e, string operation)
    {
        logger.LogError(e, "Unexpected error in {Operation}", operation);
        return new DlException(StatusCode.InternalServerError, $"The proxy failed the {operation} request: {e.Message}");
    }
}
