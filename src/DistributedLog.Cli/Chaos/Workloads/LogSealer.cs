using System.Text;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// Writes one record to a log through the core library, taking the log over (fencing whoever wrote last), and closes the
/// writer: the write proves the log works, and the close completes its segment so that every acknowledged record is
/// visible to readers (records beyond the last-add-confirmed of an abandoned segment are not, until recovery).
/// </summary>
internal static class LogSealer
{
    /// <summary>Tries until one write succeeds (each attempt bounded), recording every attempt in the history.</summary>
    /// <returns>Whether a write succeeded before <paramref name="cancellationToken"/>.</returns>
    public static async Task<bool> WriteAsync(WorkloadContext context, string client, string log, bool close, CancellationToken cancellationToken)
    {
        var manager = context.Namespace.OpenLog(log);
        for (int attempt = 1; !cancellationToken.IsCancellationRequested; attempt++)
        {
            string payload = $"{client}-{log}-{attempt}";
            bool invoked = false;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await using var writer = await manager.OpenWriterAsync(new LogWriterOptions
                {
                    DisableOwnershipLock = true,
                    OwnershipTtl = TimeSpan.FromSeconds(4),
                    EnsembleSize = Cluster.ChaosCluster.EnsembleSize,
                    WriteQuorumSize = Cluster.ChaosCluster.WriteQuorum,
                    AckQuorumSize = Cluster.ChaosCluster.AckQuorum,
                }, timeout.Token);
                long txId = Math.Max(0, writer.LastTxId + 1);
                context.History.Invoke(client, log, payload);
                invoked = true;
                var dlsn = await writer.WriteAsync(new LogRecord(txId, Encoding.UTF8.GetBytes(payload))).AsTask().WaitAsync(timeout.Token);
                context.History.Ok(client, log, payload, dlsn, txId);
                invoked = false;
                if (close)
                {
                    await writer.CloseAsync(timeout.Token);
                }

                return true;
            }
            catch (Exception e)
            {
                if (invoked)
                {
                    context.History.Unknown(client, log, payload, $"{e.GetType().Name}: {e.Message}");
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    return false;
                }

                context.Progress($"{client} write to {log} failed (attempt {attempt}: {e.GetType().Name}: {e.Message})");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
            }
        }

        return false;
    }
}
