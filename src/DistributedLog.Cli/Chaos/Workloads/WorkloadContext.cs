using DistributedLog.Client;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>What the workloads share: the history they record into, the cluster's addresses, a proxy client and a namespace.</summary>
internal sealed class WorkloadContext(History history, string metadataUri, IReadOnlyList<string> proxyEndpoints, DistributedLogClient client,
    DistributedLogNamespace space, string workDirectory, Action<string> progress)
{
    /// <summary>A write pending longer than this is a hang.</summary>
    public static readonly TimeSpan HangThreshold = TimeSpan.FromSeconds(120);

    private int _hung;

    public History History { get; } = history;

    public string MetadataUri { get; } = metadataUri;

    public IReadOnlyList<string> ProxyEndpoints { get; } = proxyEndpoints;

    /// <summary>A client of the proxies (shared: one set of connections).</summary>
    public DistributedLogClient Client { get; } = client;

    /// <summary>The core library on the cluster's metadata, in this process.</summary>
    public DistributedLogNamespace Namespace { get; } = space;

    public string WorkDirectory { get; } = workDirectory;

    public Action<string> Progress { get; } = progress;

    /// <summary>Writes whose outcome did not come within <see cref="HangThreshold"/>.</summary>
    public int HungWrites => Volatile.Read(ref _hung);

    public void CountHang() => Interlocked.Increment(ref _hung);

    /// <summary>
    /// The outcome a write failure means: a fail only when the client says the record was not written
    /// (<see cref="WriteCancelledException"/>); anything else — a timeout, a broken connection, a writer failure — leaves the
    /// outcome unknown (the record may have reached the bookies and be recovered later).
    /// </summary>
    public static EventKind Classify(Exception e) => e is WriteCancelledException ? EventKind.Fail : EventKind.Unknown;

    /// <summary>Waits for a write's outcome (at most <see cref="HangThreshold"/>) and records it.</summary>
    public async Task RecordAsync(string client, string log, string payload, Task<LogWriteResult> write)
    {
        if (await Task.WhenAny(write, Task.Delay(HangThreshold)) != write)
        {
            CountHang();
            History.Unknown(client, log, payload, $"no outcome within {HangThreshold.TotalSeconds} s (hung)");
            return;
        }

        try
        {
            var result = await write;
            History.Ok(client, log, payload, result.Dlsn, result.TxId);
        }
        catch (Exception e)
        {
            RecordFailure(client, log, payload, e);
        }
    }

    /// <summary>Records a write's failure with its classification.</summary>
    public void RecordFailure(string client, string log, string payload, Exception e)
    {
        string detail = $"{e.GetType().Name}: {e.Message}";
        if (detail.Length > 200)
        {
            detail = detail[..200];
        }

        if (Classify(e) == EventKind.Fail)
        {
            History.Fail(client, log, payload, detail);
        }
        else
        {
            History.Unknown(client, log, payload, detail);
        }
    }
}
