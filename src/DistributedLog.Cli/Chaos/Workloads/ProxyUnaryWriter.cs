using System.Text;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>Writes to a log through the proxies one unary write at a time; payloads <c>&lt;name&gt;-&lt;n&gt;</c>.</summary>
internal sealed class ProxyUnaryWriter(WorkloadContext context, string name, string log, double recordsPerSecond)
{
    public async Task RunAsync(CancellationToken stop)
    {
        long n = 0;
        var period = TimeSpan.FromSeconds(1 / recordsPerSecond);
        while (!stop.IsCancellationRequested)
        {
            string payload = $"{name}-{n++}";
            context.History.Invoke(name, log, payload);
            // Not cancelled by stop: the last write runs to its outcome.
            await context.RecordAsync(name, log, payload, context.Client.WriteAsync(log, Encoding.UTF8.GetBytes(payload)));
            await Pause(period, stop);
        }
    }

    private static async Task Pause(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
