using System.Text;
using DistributedLog.Client;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// Writes to a log through the proxies over a write stream (<see cref="DistributedLogClient.OpenWriteStream"/>): a few
/// records in flight, acknowledged in order; payloads <c>&lt;name&gt;-&lt;n&gt;</c>.
/// </summary>
internal sealed class ProxyStreamWriter(WorkloadContext context, string name, string log, double recordsPerSecond, int maxInFlight = 8)
{
    public async Task RunAsync(CancellationToken stop)
    {
        var pending = new Queue<Task>();
        await using var stream = context.Client.OpenWriteStream(log);
        long n = 0;
        var period = TimeSpan.FromSeconds(1 / recordsPerSecond);
        while (!stop.IsCancellationRequested)
        {
            string payload = $"{name}-{n++}";
            context.History.Invoke(name, log, payload);
            pending.Enqueue(context.RecordAsync(name, log, payload, stream.WriteAsync(Encoding.UTF8.GetBytes(payload))));
            while (pending.Count >= maxInFlight || (pending.Count > 0 && pending.Peek().IsCompleted))
            {
                await pending.Dequeue();
            }

            try
            {
                await Task.Delay(period, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        while (pending.Count > 0)
        {
            await pending.Dequeue();
        }
    }
}
