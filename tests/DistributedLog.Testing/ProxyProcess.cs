using System.Globalization;

namespace DistributedLog.Testing;

/// <summary>A write proxy as its own process (<c>dlog proxy</c>) on a fixed loopback port that survives restarts.</summary>
public sealed class ProxyProcess : IAsyncDisposable
{
    private readonly DlogServerProcess _process;

    public ProxyProcess(string metadataUri, params string[] extraArgs)
    {
        Port = BookieProcess.FreePort();
        Endpoint = $"http://127.0.0.1:{Port}";
        _process = new DlogServerProcess($"proxy {Endpoint}",
            ["proxy", "--port", Port.ToString(CultureInfo.InvariantCulture), "--metadata", metadataUri, "--log-level", "Warning", .. extraArgs]);
    }

    public int Port { get; }

    /// <summary>The proxy's endpoint (<c>http://127.0.0.1:port</c>), as it advertises itself.</summary>
    public string Endpoint { get; }

    public bool IsRunning => _process.IsRunning;

    public string Output => _process.Output;

    public Task StartAsync(TimeSpan? timeout = null) => _process.StartAsync(timeout);

    /// <summary>SIGKILL.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>SIGTERM (the proxy drains: it closes its logs) and wait for the exit code.</summary>
    public Task<int> StopAsync() => _process.StopAsync();

    public Task RestartAsync() => _process.RestartAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
