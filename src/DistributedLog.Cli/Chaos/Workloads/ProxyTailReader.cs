using System.Text;
using DistributedLog.Client;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// Tails a log through the proxies (<see cref="DistributedLogClient.ReadAsync"/> with follow), from the start or from a
/// txid. The client itself resumes on another proxy after a failure; when the read fails anyway, a new session starts
/// just after the last record seen.
/// </summary>
internal sealed class ProxyTailReader(WorkloadContext context, string name, string log, Func<long?>? fromTxId = null)
{
    public async Task RunAsync(CancellationToken stop)
    {
        Dlsn? last = null;
        long? txId = fromTxId?.Invoke();
        while (!stop.IsCancellationRequested)
        {
            var (start, options) = last is { } seen
                ? (ReaderStart.Dlsn, new ClientReadOptions { Follow = true, From = seen.Next() })
                : txId is { } t
                    ? (ReaderStart.TxId, new ClientReadOptions { Follow = true, FromTxId = t })
                    : (ReaderStart.Earliest, new ClientReadOptions { Follow = true });
            var session = context.History.Open(new ReaderSession(name, log, start, context.History.Now) { FromDlsn = options.From, FromTxId = options.FromTxId });
            try
            {
                await foreach (var record in context.Client.ReadAsync(log, options, stop))
                {
                    session.Add(new ObservedRecord(record.Dlsn, record.TxId, Encoding.UTF8.GetString(record.Payload.Span)));
                    last = record.Dlsn;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                context.Progress($"reader {name} on {log} failed ({e.GetType().Name}: {e.Message}); resuming after {last?.ToString() ?? "the start"}");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
