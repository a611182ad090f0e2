using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using Grpc.Core;
using CoreDlsn = DistributedLog.Protocol.Records.Dlsn;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;

namespace DistributedLog.Client.Writes;

/// <summary>
/// Many writes in flight to one log over one bidirectional gRPC stream: records are packed into messages, the owning
/// proxy packs them into entries, and acknowledgements come back in write order, many per message.
/// </summary>
/// <remarks>
/// <para>Each <see cref="WriteAsync(ReadOnlyMemory{byte}, long?)"/> is queued at once, in call order; its task completes
/// with the record's DLSN once durable. Writers that do not await each write should bound their own outstanding ones.</para>
/// <para>A redirect or a draining proxy before anything was written is followed transparently (the records are sent to
/// the owner). A refused record (too long, bad checksum, txid out of order, over capacity, …) fails with its error and
/// every later outstanding one with <see cref="WriteCancelledException"/> (they were not written). When the proxy's
/// writer itself failed (fenced, lost its bookies or its ownership), the records sent and not acknowledged fail with
/// <see cref="StatusCode.WriteException"/> (outcome unknown: each may or may not have been written) and the records not
/// sent yet continue on a new stream, which acquires the log again. When the connection broke, the outcome of the
/// records in flight is unknown (<see cref="StatusCode.WriteException"/>) and the rest are cancelled. Nothing is resent
/// behind the caller's back. The next write opens a new stream, routed afresh.</para>
/// </remarks>
public sealed partial class LogWriteStream : IAsyncDisposable
{
    private readonly DistributedLogClient _client;
    private readonly LogWriteStreamOptions _options;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private Queue<PendingRecord> _unsent = new();
    private readonly Queue<PendingRecord> _inFlight = new();
    private TaskCompletionSource? _wake;
    private Task? _pump;
    private bool _completing;

    internal LogWriteStream(DistributedLogClient client, string log, LogWriteStreamOptions options)
    {
        _client = client;
        Log = log;
        _options = options;
    }

    /// <summary>The log written to.</summary>
    public string Log { get; }

    /// <summary>Writes a record; the proxy assigns its txid unless <paramref name="txId"/> is given.</summary>
    /// <returns>A task that completes with the record's DLSN and txid once it is durable, in write order.</returns>
    public Task<LogWriteResult> WriteAsync(ReadOnlyMemory<byte> payload, long? txId = null) => Send(_client.ToWire(payload, txId));

    private Task<LogWriteResult> Send(Record wire)
    {
        var record = new PendingRecord(wire);
        lock (_gate)
        {
            if (_completing)
            {
                return Task.FromException<LogWriteResult>(new AlreadyClosedException($"The write stream of log '{Log}' is closed."));
            }

            _unsent.Enqueue(record);
            WakeLocked();
            _pump ??= Task.Run(PumpAsync);
        }

        return record.Task;
    }

    /// <summary>Writes a record with its txid (a record set when it has the record-set flag: the DLSN is its first record's).</summary>
    public async Task<CoreDlsn> WriteAsync(LogRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return (await Send(_client.ToWire(record.Payload, record.TxId, record.IsRecordSet))).Dlsn;
    }

    /// <summary>Waits until every write so far is acknowledged or failed, then closes the stream.</summary>
    public async Task CompleteAsync()
    {
        Task? pump;
        lock (_gate)
        {
            _completing = true;
            WakeLocked();
            pump = _pump;
        }

        if (pump is not null)
        {
            await pump;
        }
    }

    /// <summary>Completes the stream (see <see cref="CompleteAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        await CompleteAsync();
        _disposed.Dispose();
    }

    private void WakeLocked()
    {
        _wake?.TrySetResult();
        _wake = null;
    }

    private async Task PumpAsync()
    {
        var retry = new DistributedLogClient.RetryState(_client.Options);
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_unsent.Count == 0)
                {
                    if (_completing)
                    {
                        _pump = null;
                        return;
                    }

                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wait = _wake.Task;
                }
                else
                {
                    wait = Task.CompletedTask;
                }
            }

            await wait;
            if (_unsent.Count == 0)
            {
                continue;
            }

            DlException? outcome;
            try
            {
                await _client.Proxies.RefreshAsync(force: false, _disposed.Token);
                outcome = await RunCallAsync(_client.Proxies.Route(Log));
            }
            catch (DlException e) when (e.IsRetryable)
            {
                outcome = e; // no proxy known or reachable yet: wait and try again, within the budget
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Never leave writes waiting on a pump that died.
                FailAll(e as DlException ?? new DlException(StatusCode.Unexpected, $"The write stream of log '{Log}' failed: {e.Message}", e), first: null);
                continue;
            }

            if (outcome is null)
            {
                retry = new DistributedLogClient.RetryState(_client.Options);
                continue;
            }

            // Nothing of this call was written: send its records again (to the owner, after a pause), within the budget.
            lock (_gate)
            {
                var again = new Queue<PendingRecord>(_inFlight.Concat(_unsent));
                _inFlight.Clear();
                _unsent = again;
            }

            if (outcome is OwnershipMovedException && retry.Redirects++ < 2)
            {
                continue; // the owner is known now: go there at once
            }

            if (!await retry.BackoffAsync(CancellationToken.None))
            {
                FailAll(outcome, first: null);
                retry = new DistributedLogClient.RetryState(_client.Options);
            }
        }
    }

    /// <summary>
    /// One gRPC call: sends queued records and completes acknowledged ones until the stream ends. Returns null when the
    /// call ended after its records were dealt with (acknowledged or failed), or the error to retry on when nothing was
    /// written (a redirect, a draining or unreachable proxy).
    /// </summary>
    private async Task<DlException?> RunCallAsync(string endpoint)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token);
        AsyncDuplexStreamingCall<WriteStreamRequest, WriteStreamResponse> call;
        try
        {
            call = _client.Proxies.Client(endpoint).WriteStream(cancellationToken: stop.Token);
        }
        catch (RpcException e)
        {
            return _client.OnCallFailed(endpoint, Log, e, mayExecute: false);
        }

        using (call)
        {
            var sending = SendAsync(call.RequestStream, stop.Token);
            long acknowledged = 0;
            DlException? retryable = null;
            DlException? unknown = null;
            bool settled = false;
            try
            {
                await foreach (var response in call.ResponseStream.ReadAllAsync(stop.Token))
                {
                    if (!response.Header.IsOk())
                    {
                        var error = response.Header.ToException();
                        if (!response.OutcomeUnknown && acknowledged == 0 && error.Code is StatusCode.Found or StatusCode.ServiceUnavailable or StatusCode.StreamNotReady or StatusCode.TooManyStreams)
                        {
                            if (error is OwnershipMovedException { Owner.Length: > 0 } moved && moved.Owner != endpoint && !_client.Proxies.IsDown(moved.Owner))
                            {
                                _client.Proxies.SetOwner(Log, moved.Owner);
                            }
                            else
                            {
                                _client.Proxies.ForgetOwner(Log);
                            }

                            retryable = error;
                        }
                        else if (response.OutcomeUnknown)
                        {
                            // The proxy's writer failed: what was sent and not acknowledged may or may not be written; what
                            // was not sent goes on a new stream (the proxy released the log; the next call acquires it again).
                            _client.Proxies.ForgetOwner(Log);
                            unknown = new DlException(StatusCode.WriteException,
                                $"Outcome unknown: the proxy's writer of log '{Log}' failed ({error.Message}); this record may or may not have been written. Later records continue on a new stream.",
                                error);
                            settled = true;
                        }
                        else
                        {
                            // The proxy refused the record before its writer took it, and handed nothing after it to the
                            // writer: the failed record and the later ones are not written.
                            _client.Proxies.ForgetOwner(Log);
                            FailAll(new WriteCancelledException($"Not written: an earlier record of the stream to log '{Log}' was refused ({error.Message})."), first: error);
                            settled = true;
                        }

                        break;
                    }

                    Acknowledge(response);
                    acknowledged += response.Txids.Count;
                    if (acknowledged == response.Txids.Count)
                    {
                        _client.Proxies.SetOwner(Log, endpoint);
                    }
                }
            }
            catch (RpcException e) when (!_disposed.IsCancellationRequested)
            {
                bool notSent = acknowledged == 0 && DistributedLogClient.IsConnectFailure(e);
                var error = _client.OnCallFailed(endpoint, Log, e, mayExecute: !notSent);
                if (notSent && _client.ShouldFailFast(e))
                {
                    FailAll(error, first: null);
                    settled = true;
                }
                else if (notSent)
                {
                    retryable = error;
                }
                else
                {
                    FailAll(new WriteCancelledException($"Not sent: the stream to log '{Log}' broke ({error.Message})."), first: null, inFlightError: error);
                    settled = true;
                }
            }

            await stop.CancelAsync();
            try
            {
                await sending;
            }
            catch (Exception e) when (e is OperationCanceledException or RpcException or InvalidOperationException or IOException)
            {
            }

            if (unknown is not null)
            {
                // After the sender stopped: records it moved in flight meanwhile are unknown too; the unsent ones stay queued.
                FailInFlight(unknown);
            }

            if (retryable is null && !settled)
            {
                // The server ended the stream normally: what it did not acknowledge of what was sent was not written by it;
                // records not sent yet wait for the next call.
                FailInFlight(new DlException(StatusCode.WriteException, $"The proxy ended the stream to log '{Log}' before acknowledging these records."));
            }

            return retryable;
        }
    }

    private async Task SendAsync(IClientStreamWriter<WriteStreamRequest> requests, CancellationToken cancellationToken)
    {
        bool first = true;
        while (true)
        {
            var message = new WriteStreamRequest();
            Task? wait = null;
            bool complete = false;
            lock (_gate)
            {
                long bytes = 0;
                while (_unsent.Count > 0 && _inFlight.Count < _options.MaxInFlight && message.Records.Count < _options.MaxRecordsPerMessage
                       && (message.Records.Count == 0 || bytes + _unsent.Peek().Wire.Payload.Length <= _options.MaxBytesPerMessage))
                {
                    var record = _unsent.Dequeue();
                    _inFlight.Enqueue(record);
                    message.Records.Add(record.Wire);
                    bytes += record.Wire.Payload.Length;
                }

                if (message.Records.Count == 0)
                {
                    if (_completing && _unsent.Count == 0)
                    {
                        complete = true;
                    }
                    else
                    {
                        _wake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        wait = _wake.Task;
                    }
                }
            }

            if (complete)
            {
                await requests.CompleteAsync();
                return;
            }

            if (wait is not null)
            {
                await wait.WaitAsync(cancellationToken);
                continue;
            }

            if (first)
            {
                message.Log = Log;
                first = false;
            }

            await requests.WriteAsync(message, cancellationToken);
        }
    }

    private void Acknowledge(WriteStreamResponse response)
    {
        int count = response.Txids.Count;
        if (response.LogSegmentSequenceNos.Count != count || response.EntryIds.Count != count || response.SlotIds.Count != count)
        {
            throw new DlException(StatusCode.ProtocolError,
                $"The proxy acknowledged {count} records of log '{Log}' with {response.LogSegmentSequenceNos.Count}/{response.EntryIds.Count}/{response.SlotIds.Count} DLSN parts.");
        }

        var done = new List<(PendingRecord Record, LogWriteResult Result)>(count);
        lock (_gate)
        {
            for (int i = 0; i < count; i++)
            {
                if (!_inFlight.TryDequeue(out var record))
                {
                    break;
                }

                var dlsn = new CoreDlsn(response.LogSegmentSequenceNos[i], response.EntryIds[i], response.SlotIds[i]);
                done.Add((record, new LogWriteResult(dlsn, response.Txids[i])));
            }

            WakeLocked(); // room for more in flight
        }

        foreach (var (record, result) in done)
        {
            record.TrySetResult(result);
        }
    }

    /// <summary>Fails what is outstanding: the first in-flight record with <paramref name="first"/> (when given), other in-flight ones with <paramref name="inFlightError"/> (when given), the rest with <paramref name="rest"/>.</summary>
    private void FailAll(DlException rest, DlException? first, DlException? inFlightError = null)
    {
        List<(PendingRecord Record, DlException Error)> failed = [];
        lock (_gate)
        {
            bool isFirst = true;
            while (_inFlight.TryDequeue(out var record))
            {
                failed.Add((record, isFirst && first is not null ? first : inFlightError ?? rest));
                isFirst = false;
            }

            while (_unsent.TryDequeue(out var record))
            {
                failed.Add((record, rest));
            }

            WakeLocked();
        }

        foreach (var (record, error) in failed)
        {
            record.TrySetException(error);
        }
    }

    private void FailInFlight(DlException error)
    {
        List<PendingRecord> failed = [];
        lock (_gate)
        {
            while (_inFlight.TryDequeue(out var record))
            {
                failed.Add(record);
            }
        }

        foreach (var record in failed)
        {
            record.TrySetException(error);
        }
    }

    /// <summary>A queued record and the completion of its write.</summary>
    private sealed class PendingRecord(Record wire) : TaskCompletionSource<LogWriteResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public Record Wire { get; } = wire;
    }
}
