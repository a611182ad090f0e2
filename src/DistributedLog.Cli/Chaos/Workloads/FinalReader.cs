using System.Text;
using DistributedLog.Client;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// The final reads of a log after the cluster healed: a fresh reader from the start to the end, through the core library
/// and through the proxies. The first complete one is the checker's reference order; the others must agree with it.
/// </summary>
internal static class FinalReader
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Reads the whole log through the core library (up to its last record, found first).</summary>
    public static async Task<ReaderSession> ReadCoreAsync(WorkloadContext context, string log, CancellationToken cancellationToken)
    {
        var session = context.History.Open(new ReaderSession("final-core", log, ReaderStart.Earliest, context.History.Now) { Final = true });
        var manager = context.Namespace.OpenLog(log);
        try
        {
            Dlsn last;
            try
            {
                last = (await manager.GetLastRecordAsync(cancellationToken)).Dlsn;
            }
            catch (LogEmptyException)
            {
                session.Complete = true;
                return session;
            }

            await using var reader = await manager.OpenReaderAsync(Dlsn.Initial, cancellationToken: cancellationToken);
            while (true)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(ReadTimeout);
                var record = await reader.ReadNextAsync(timeout.Token);
                if (record.IsControl)
                {
                    continue;
                }

                session.Add(new ObservedRecord(record.Dlsn, record.TxId, Encoding.UTF8.GetString(record.Payload.Span)));
                if (record.Dlsn >= last)
                {
                    session.Complete = true;
                    return session;
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            context.Progress($"final core read of {log} failed after {session.Records.Count} records: {e.GetType().Name}: {e.Message}");
            return session;
        }
    }

    /// <summary>Reads the whole log through the proxies (to the end as of the start of the read).</summary>
    public static async Task<ReaderSession> ReadProxyAsync(WorkloadContext context, string log, CancellationToken cancellationToken)
    {
        var session = context.History.Open(new ReaderSession("final-proxy", log, ReaderStart.Earliest, context.History.Now) { Final = true });
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(2));
            await foreach (var record in context.Client.ReadAsync(log, new ClientReadOptions(), timeout.Token))
            {
                session.Add(new ObservedRecord(record.Dlsn, record.TxId, Encoding.UTF8.GetString(record.Payload.Span)));
            }

            session.Complete = true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            context.Progress($"final proxy read of {log} failed after {session.Records.Count} records: {e.GetType().Name}: {e.Message}");
        }

        return session;
    }
}
