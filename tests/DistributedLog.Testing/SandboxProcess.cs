using System.Globalization;

namespace DistributedLog.Testing;

/// <summary>
/// <c>dlog sandbox</c> (embedded metadata, bookies and a write proxy in one process) running as its own operating-system
/// process on a free loopback port that survives restarts. Tests stop it with SIGTERM (expecting a clean exit), SIGKILL it
/// and restart it on the same data directory. Client commands talk to <see cref="Endpoint"/> (see <see cref="Dlog"/>).
/// </summary>
public sealed class SandboxProcess : IAsyncDisposable
{
    private readonly DlogServerProcess _process;

    public SandboxProcess(string? dataDirectory = null, params string[] extraArgs)
    {
        DataDirectory = dataDirectory ?? TestEntries.TempDirectory("sandbox");
        Port = BookieProcess.FreePort();
        _process = new DlogServerProcess("sandbox",
            ["sandbox", "--data", DataDirectory, "--port", Port.ToString(CultureInfo.InvariantCulture), .. extraArgs], readyMarker: "ready");
    }

    public string DataDirectory { get; }

    /// <summary>Port of the write proxy, the same across restarts.</summary>
    public int Port { get; }

    /// <summary>The proxy's URL, what <c>--endpoint</c> and <c>DLOG_ENDPOINT</c> take.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public bool IsRunning => _process.IsRunning;

    /// <summary>Everything the current and earlier runs printed (stdout and stderr), for failure messages.</summary>
    public string Output => _process.Output;

    /// <summary>Starts <c>dlog sandbox --data DIR --port P</c> and waits for its line containing <c>ready</c>.</summary>
    public Task StartAsync(TimeSpan? timeout = null) => _process.StartAsync(timeout ?? TimeSpan.FromSeconds(90));

    /// <summary>SIGTERM and wait for the exit; returns the exit code.</summary>
    public Task<int> StopAsync(TimeSpan? timeout = null) => _process.StopAsync(timeout);

    /// <summary>SIGKILL: the process dies at once, with no chance to flush or release anything.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>SIGKILL, then a start on the same data directory and port.</summary>
    public Task RestartAsync() => _process.RestartAsync();

    /// <summary>Runs a <c>dlog</c> client command against this sandbox (<c>--endpoint</c> is appended).</summary>
    public Task<DlogResult> RunAsync(params string[] args) => Dlog.RunAsync([.. args, "--endpoint", Endpoint]);

    /// <summary>Runs a <c>dlog</c> client command against this sandbox with <paramref name="stdin"/> as its input.</summary>
    public Task<DlogResult> RunWithInputAsync(string stdin, params string[] args) =>
        Dlog.RunAsync([.. args, "--endpoint", Endpoint], new DlogRunOptions { Stdin = stdin });

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
