using System.Runtime.CompilerServices;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using Grpc.Core;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;

namespace DistributedLog.Client;

public sealed partial class DistributedLogClient
{
    /// <summary>
    /// Reads records through a proxy (any proxy serves reads): from the start, a DLSN, a txid or a subscriber's position;
    /// to the log's end when the read started, or tailing with <see cref="ClientReadOptions.Follow"/>. If the proxy goes
    /// away, the read resumes on another one after the last record delivered — no record is skipped or repeated.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="TruncatedPositionException">The start position was truncated.</exception>
    public async IAsyncEnumerable<LogRecordWithDlsn> ReadAsync(string log, ClientReadOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new ClientReadOptions();
        options.Validate();
        var request = new ReadRequest { Log = log, Count = options.Count, Follow = options.Follow };
        if (options.From is { } from)
        {
            request.FromDlsn = from.ToWire();
        }
        else if (options.FromTxId is { } txId)
        {
            request.FromTxid = txId;
        }
        else if (options.Subscriber is { } subscriber)
        {
            request.Subscriber = subscriber;
        }

        await _proxies.RefreshAsync(force: false, cancellationToken);
        var retry = new RetryState(_options);
        long delivered = 0;
        while (true)
        {
            string endpoint = _proxies.Route(log);
            using var call = _proxies.Client(endpoint).Read(request, cancellationToken: cancellationToken);
            bool resume = false;
            while (!resume)
            {
                ReadResponse response;
                try
                {
                    if (!await call.ResponseStream.MoveNext(cancellationToken))
                    {
                        yield break;
                    }

                    response = call.ResponseStream.Current;
                }
                catch (RpcException e) when (e.StatusCode == global::Grpc.Core.StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
                catch (RpcException e)
                {
                    var error = OnCallFailed(endpoint, null, e, mayExecute: false);
                    if (ShouldFailFast(e) || !await retry.BackoffAsync(cancellationToken))
                    {
                        throw error;
                    }

                    resume = true;
                    continue;
                }

                if (!response.Header.IsOk())
                {
                    var error = response.Header.ToException();
                    if (error.Code == StatusCode.EndOfStream)
                    {
                        yield break;
                    }

                    if (error.IsRetryable && await retry.BackoffAsync(cancellationToken))
                    {
                        resume = true;
                        continue;
                    }

                    throw error;
                }

                foreach (var r in response.Records)
                {
                    var dlsn = r.Dlsn.ToCore("dlsn");
                    delivered++;

                    // A resumed read starts just after the last record delivered.
                    request.FromDlsn = dlsn.Next().ToWire();
                    if (request.Count > 0)
                    {
                        request.Count = Math.Max(1, options.Count - delivered);
                    }

                    yield return new LogRecordWithDlsn(dlsn, r.SequenceId, r.PositionWithinSegment, r.Txid, LogRecordFlags.None, r.Payload.Memory);
                }

                if (options.Count > 0 && delivered >= options.Count)
                {
                    yield break;
                }
            }
        }
    }
}
