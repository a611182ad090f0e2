using System.Text;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// Tails a log through the core library in this process (<see cref="Readers.LogReader"/>), positioned by DLSN (the first
/// record) or by txid; when the reader fails, a new session starts just after the last record seen.
/// </summary>
internal sealed class CoreTailReader(WorkloadContext context, string name, string log, Func<long?>? fromTxId = null)
{
    public async Task RunAsync(CancellationToken stop)
    {
        Dlsn? last = null;
        long? txId = fromTxId?.Invoke();
        var manager = context.Namespace.OpenLog(log);
        while (!stop.IsCancellationRequested)
        {
            ReaderSession session;
            LogReader reader;
            try
            {
                if (last is null && txId is { } t)
                {
                    session = new ReaderSession(name, log, ReaderStart.TxId, context.History.Now) { FromTxId = t };
                    reader = await manager.OpenReaderAsync(t, cancellationToken: stop);
                }
                else
                {
                    var from = last?.Next() ?? Dlsn.Initial;
                    session = new ReaderSession(name, log, ReaderStart.Dlsn, context.History.Now) { FromDlsn = from };
                    reader = await manager.OpenReaderAsync(from, cancellationToken: stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                context.Progress($"reader {name} on {log} could not open ({e.GetType().Name}: {e.Message}); retrying");
                if (!await PauseAsync(stop))
                {
                    return;
                }

                continue;
            }

            context.History.Open(session);
            try
            {
                try
                {
                    while (true)
                    {
                        var record = await reader.ReadNextAsync(stop);
                        if (record.IsControl)
                        {
                            continue;
                        }

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
                    if (!await PauseAsync(stop))
                    {
                        return;
                    }
                }
            }
            finally
            {
                try
                {
                    await reader.DisposeAsync();
                }
                catch (Exception e)
                {
                    context.Progress($"reader {name} on {log}: closing failed ({e.GetType().Name}: {e.Message})");
                }
            }
        }
    }

    private static async Task<bool> PauseAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1), stop);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
