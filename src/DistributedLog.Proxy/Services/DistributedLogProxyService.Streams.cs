using System.Diagnostics;
using System.Threading.Channels;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Metadata;
using DistributedLog.Proxy.Ownership;
using DistributedLog.Proxy.Reads;
using DistributedLog.Readers;
using Google.Protobuf;
using Grpc.Core;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;
using Microsoft.Extensions.Logging;
using CoreDlsn = DistributedLog.Protocol.Records.Dlsn;

namespace DistributedLog.Proxy.Services;

internal sealed partial class DistributedLogProxyService
{
    /// <summary>
    /// A record given to the writer, waiting for its acknowledgement. <c>Accepted</c> is false for a record refused before
    /// the writer took it (not written); <c>HandedAt</c> is the <see cref="Stopwatch"/> timestamp the wait is bounded from.
    /// </summary>
    private readonly record struct PendingAck(ValueTask<CoreDlsn> Write, long TxId, int Bytes, bool Accepted, long HandedAt);

    /// <summary>
    /// Records in, acknowledgements out, in order. One loop hands records to the log's writer (which packs them into
    /// entries) without waiting; a second sends acknowledgements as they complete, many per response. The first failure
    /// is answered with its index and error, and the stream ends. A record refused before the writer took it (txid order,
    /// size, checksum, limits, a writer already failed) is not written, and nothing after it was handed over. A record the
    /// writer took and that then failed — or was not acknowledged within the request timeout — has an unknown outcome
    /// (recovery of its segment may keep it), and so have the records handed over after it: the answer says so, and the
    /// log is released, so the client's next stream acquires it again.
    /// </summary>
    public override async Task WriteStream(IAsyncStreamReader<WriteStreamRequest> requests, IServerStreamWriter<WriteStreamResponse> responses,
        ServerCallContext context)
    {
        var callToken = context.CancellationToken;
        if (!await requests.MoveNext(callToken))
        {
            return;
        }

        var message = requests.Current;
        OwnedLog owned;
        try
        {
            owned = await ownership.AcquireAsync(message.Log, callToken);
        }
        catch (Exception e) when (ToError(e, "write_stream", timedOut: false, callToken) is { } error)
        {
            metrics.Request("write_stream", (int)error.Code);
            await responses.WriteAsync(new WriteStreamResponse { Header = error.ToHeader() }, callToken);
            return;
        }

        // Unbounded here: the log's writer bounds what is outstanding (LogWriterOptions.MaxOutstandingRecords/Bytes, shared by
        // every stream of the log), and this loop waits for its room before handing over each record.
        var pending = Channel.CreateUnbounded<PendingAck>(new UnboundedChannelOptions
        {
            SingleReader = true,
            SingleWriter = true,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(callToken);
        var acknowledging = AcknowledgeAsync(pending.Reader, responses, owned, stop);
        try
        {
            do
            {
                foreach (var wire in message.Records)
                {
                    ValueTask<CoreDlsn> write;
                    long txId = 0;
                    bool accepted;
                    // Back-pressure once, in the writer: wait (without allocating when there is room) until it can take more.
                    await owned.Writer.WaitForRoomAsync(stop.Token);
                    try
                    {
                        Admit(owned, 1, wire.Payload.Length);
                        write = owned.Write(wire, out txId, out accepted);
                    }
                    catch (DlException e)
                    {
                        write = ValueTask.FromException<CoreDlsn>(e);
                        accepted = false;
                    }

                    pending.Writer.TryWrite(new PendingAck(write, txId, wire.Payload.Length, accepted, Stopwatch.GetTimestamp()));
                    if (!accepted)
                    {
                        return; // nothing after a refused record is written
                    }
                }

                if (!await requests.MoveNext(stop.Token))
                {
                    break;
                }

                message = requests.Current;
            }
            while (true);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The acknowledging loop failed the stream, or the client went away.
        }
        catch (IOException)
        {
            // The client's connection broke.
        }
        finally
        {
            pending.Writer.TryComplete();
            await acknowledging;
        }
    }

    private async Task AcknowledgeAsync(ChannelReader<PendingAck> pending, IServerStreamWriter<WriteStreamResponse> responses, OwnedLog owned,
        CancellationTokenSource stop)
    {
        long index = 0;
        long bytes = 0;
        var response = new WriteStreamResponse { FirstIndex = 0 };
        try
        {
            while (await pending.WaitToReadAsync())
            {
                while (response.Txids.Count < MaxAcksPerResponse && pending.TryPeek(out var next))
                {
                    if (!next.Write.IsCompleted && response.Txids.Count > 0)
                    {
                        break; // send what is acknowledged before waiting for more
                    }

                    pending.TryRead(out _);
                    CoreDlsn dlsn;
                    try
                    {
                        dlsn = await WithinRequestTimeoutAsync(owned, next);
                    }
                    catch (Exception e)
                    {
                        await SendAsync(responses, response, bytes, stop.Token);
                        var error = ToError(e, "write_stream", timedOut: false, stop.Token) ?? new DlException(StatusCode.ClientClosed, "The client went away.");
                        metrics.Request("write_stream", (int)error.Code);

                        // Exact: a record the writer took may be on a bookie (fencing recovery may keep it), whatever the error.
                        bool outcomeUnknown = next.Accepted;
                        if (outcomeUnknown || owned.Writer.Failure is not null)
                        {
                            _ = ownership.ReleaseAfterFailureAsync(owned, e);
                        }

                        await stop.CancelAsync();
                        await responses.WriteAsync(new WriteStreamResponse { Header = error.ToHeader(), FirstIndex = index, OutcomeUnknown = outcomeUnknown },
                            CancellationToken.None);
                        return;
                    }

                    response.LogSegmentSequenceNos.Add(dlsn.LogSegmentSequenceNo);
                    response.EntryIds.Add(dlsn.EntryId);
                    response.SlotIds.Add(dlsn.SlotId);
                    response.Txids.Add(next.TxId);
                    bytes += next.Bytes;
                    index++;
                }

                if (response.Txids.Count > 0)
                {
                    await SendAsync(responses, response, bytes, stop.Token);
                    response = new WriteStreamResponse { FirstIndex = index };
                    bytes = 0;
                }
            }

            // The client closed its side: make its records visible to readers now rather than after the commit delay.
            try
            {
                await owned.Writer.CommitAsync(stop.Token);
            }
            catch (DlException e)
            {
                logger.LogDebug("Committing log {Log} after its write stream failed: {Error}", owned.Name, e.Message);
            }

            metrics.Request("write_stream", (int)StatusCode.Success);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The client went away: what it was not told about stays unacknowledged.
            await stop.CancelAsync();
        }
        finally
        {
            // Observe every write still pending (each exactly once) without waiting for those not complete: the call ends
            // now, whatever the writer does with them later.
            while (pending.TryRead(out var left) || (await pending.WaitToReadAsync() && pending.TryRead(out left)))
            {
                Observe(left.Write);
            }
        }
    }

    /// <summary>
    /// The record's acknowledgement, waited for at most the request timeout from when it was handed over: every record
    /// gets an outcome within that bound, even if the writer never completes it (a lost lease, a roll stuck on metadata).
    /// </summary>
    private async ValueTask<CoreDlsn> WithinRequestTimeoutAsync(OwnedLog owned, PendingAck pending)
    {
        if (pending.Write.IsCompleted)
        {
            return await pending.Write;
        }

        var left = options.RequestTimeout - Stopwatch.GetElapsedTime(pending.HandedAt);
        var write = pending.Write.AsTask();
        try
        {
            return await write.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        catch (TimeoutException)
        {
            Observe(write);
            throw new DlException(StatusCode.FlushTimeout,
                $"A streamed write to log '{owned.Name}' was not acknowledged within {options.RequestTimeout.TotalSeconds:0.###} s; its outcome is unknown.");
        }
    }

    /// <summary>Consumes a write whose result nobody waits for (a pooled write must be consumed once; a fault must be observed).</summary>
    private static void Observe(ValueTask<CoreDlsn> write)
    {
        if (write.IsCompletedSuccessfully)
        {
            _ = write.Result;
            return;
        }

        Observe(write.AsTask());
    }

    private static void Observe(Task<CoreDlsn> write) =>
        _ = write.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private async Task SendAsync(IServerStreamWriter<WriteStreamResponse> responses, WriteStreamResponse response, long bytes, CancellationToken ct)
    {
        if (response.Txids.Count == 0)
        {
            return;
        }

        await responses.WriteAsync(response, ct);
        metrics.Written(response.Txids.Count, bytes);
    }

    /// <summary>
    /// Streams records from a DLSN, a txid or a subscriber's position. Without <c>follow</c> the read ends at the last
    /// record the log had when the request arrived; with it, it tails until the client cancels or the log ends. Read calls of
    /// one log share its read fan-out (<see cref="ReadFanout"/>): one reader of the bookies and a cache of the newest
    /// records, from which each call takes records at its own pace, reading alone while outside the cache.
    /// </summary>
    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> responses, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        try
        {
            var log = ns.OpenLog(request.Log);
            LogRecordWithDlsn? last = null;
            await MakeAcknowledgedVisibleAsync(log, ct);
            if (!request.Follow)
            {
                try
                {
                    last = await log.GetLastRecordAsync(ct);
                }
                catch (LogEmptyException)
                {
                    await EnsureExistsAsync(log.Name, ct);
                    return;
                }
            }

            IAsyncDisposable? subscriberLock = null;
            try
            {
                ReadPosition start;
                switch (request.FromCase)
                {
                    case ReadRequest.FromOneofCase.Subscriber:
                        // The subscriber's read lock is held for the whole call (a second reader with the same id is refused).
                        subscriberLock = await log.Subscriptions.AcquireReadLockAsync(request.Subscriber, SubscriberLockTtl, ct);
                        var committed = await log.Subscriptions.GetPositionAsync(request.Subscriber, ct);
                        if (last is not null && committed is { } position && position >= last.Dlsn)
                        {
                            return;
                        }

                        start = committed is { } after ? ReadPosition.FromDlsn(after.Next()) : ReadPosition.Earliest;
                        break;
                    case ReadRequest.FromOneofCase.FromTxid:
                        if (last is not null && request.FromTxid > last.TxId)
                        {
                            return;
                        }

                        start = ReadPosition.FromTxId(request.FromTxid);
                        break;
                    default:
                        var from = request.FromCase == ReadRequest.FromOneofCase.FromDlsn ? request.FromDlsn.ToCore("from_dlsn") : CoreDlsn.Initial;
                        if (last is not null && from > last.Dlsn)
                        {
                            return;
                        }

                        start = request.FromCase == ReadRequest.FromOneofCase.FromDlsn ? ReadPosition.FromDlsn(from) : ReadPosition.Earliest;
                        break;
                }

                await using var reader = await reads.OpenAsync(log, start, ct);
                await StreamRecordsAsync(reader, request, last, responses, ct);
            }
            finally
            {
                if (subscriberLock is not null)
                {
                    await ReleaseSubscriberLockAsync(subscriberLock);
                }
            }

            metrics.Request("read", (int)StatusCode.Success);
        }
        catch (Exception e) when (ToError(e, "read", timedOut: false, ct) is { } error)
        {
            metrics.Request("read", (int)error.Code);
            await responses.WriteAsync(new ReadResponse { Header = error.ToHeader() }, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>How long a subscriber's read lock outlives a proxy that died holding it.</summary>
    private static readonly TimeSpan SubscriberLockTtl = TimeSpan.FromSeconds(10);

    /// <summary>Sends the reader's records until the count, the end of the log or (without follow) <paramref name="last"/>.</summary>
    private static async Task StreamRecordsAsync(FanoutReader reader, ReadRequest request, LogRecordWithDlsn? last,
        IServerStreamWriter<ReadResponse> responses, CancellationToken ct)
    {
        long remaining = request.Count > 0 ? request.Count : long.MaxValue;
        while (remaining > 0)
        {
            IReadOnlyList<LogRecordWithDlsn> batch;
            try
            {
                batch = await reader.ReadAsync((int)Math.Min(remaining, MaxRecordsPerReadResponse), ct);
            }
            catch (LogEndOfStreamException)
            {
                return;
            }

            var response = new ReadResponse();
            long responseBytes = 0;
            bool atEnd = false;
            foreach (var record in batch)
            {
                if (responseBytes + record.Payload.Length > MaxReadResponseBytes && response.Records.Count > 0)
                {
                    // Keep each message well under the gRPC message size limit (records are up to 1 MiB).
                    await responses.WriteAsync(response, ct);
                    response = new ReadResponse();
                    responseBytes = 0;
                }

                responseBytes += record.Payload.Length;
                response.Records.Add(new ReadRecord
                {
                    Dlsn = record.Dlsn.ToWire(),
                    Txid = record.TxId,
                    SequenceId = record.SequenceId,
                    PositionWithinSegment = record.PositionWithinSegment,
                    Payload = UnsafeByteOperations.UnsafeWrap(record.Payload),
                });
                remaining--;
                if ((last is not null && record.Dlsn >= last.Dlsn) || remaining == 0)
                {
                    atEnd = true;
                    break;
                }
            }

            await responses.WriteAsync(response, ct);
            if (atEnd)
            {
                return;
            }
        }
    }

    /// <summary>Releases a subscriber's read lock; a metadata deadline on the way is a retryable store error, not a cancellation.</summary>
    private static async Task ReleaseSubscriberLockAsync(IAsyncDisposable readLock)
    {
        try
        {
            await readLock.DisposeAsync();
        }
        catch (OperationCanceledException e)
        {
            // No caller token here: the lock's lease expires on its own.
            throw new MetadataStoreUnavailableException(
                $"Releasing the subscriber's read lock failed: the metadata store did not answer in time ({e.Message}).", outcomeUnknown: true, e);
        }
    }

    private async Task EnsureExistsAsync(string log, CancellationToken ct)
    {
        if (!await ns.LogExistsAsync(log, ct))
        {
            throw new LogNotFoundException($"Log '{log}' does not exist.");
        }
    }
}
