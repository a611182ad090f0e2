using System.Net;
using System.Net.Sockets;

namespace DistributedLog.Testing;

/// <summary>
/// A bookie running as its own operating-system process (<c>dlog bookie</c>), on a fixed loopback port that survives
/// restarts. Tests SIGKILL it, restart it on the same data, or wipe its data.
/// </summary>
public sealed class BookieProcess : IAsyncDisposable
{
    private readonly DlogServerProcess _process;

    public BookieProcess(string dataDirectory, params string[] extraArgs)
    {
        DataDirectory = dataDirectory;
        Port = FreePort();
        _process = new DlogServerProcess($"bookie {BookieId}",
            ["bookie", "--data", DataDirectory, "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--min-free-mb", "0", .. extraArgs]);
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string BookieId => $"127.0.0.1:{Port}";

    public bool IsRunning => _process.IsRunning;

    /// <summary>Everything the process printed (stdout and stderr), for failure messages.</summary>
    public string Output => _process.Output;

    public static int FreePort() => DistributedLog.Bookie.Server.FreePorts.Pick();

    /// <summary>Path of the dlog entry assembly next to the test assembly.</summary>
    public static string DlogDll => Path.Combine(AppContext.BaseDirectory, "dlog.dll");

    public Task StartAsync(TimeSpan? timeout = null) => _process.StartAsync(timeout);

    /// <summary>SIGKILL: the process dies at once, with no chance to flush anything.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>SIGTERM (<paramref name="signals"/> times in a row) and wait for the exit; returns the exit code.</summary>
    public Task<int> StopAsync(int signals = 1) => _process.StopAsync(signals: signals);

    /// <summary>SIGSTOP: the process freezes (a long GC pause, a stuck disk); its sockets stay open but nothing is answered.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT: a paused process carries on.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private Task SignalAsync(string signal)
    {
        ProcessSignals.Send(_process.ProcessId ?? throw new InvalidOperationException($"bookie {BookieId} is not running"), signal);
        return Task.CompletedTask;
    }

    /// <summary>SIGKILL, then delete every byte of the bookie's data, as a replaced or wiped disk would.</summary>
    public async Task WipeAsync()
    {
        await KillAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }

    /// <summary>Starts the process and waits for it to exit (for starts that must be refused); returns its exit code.</summary>
    public Task<int> RunToExitAsync(TimeSpan timeout) => _process.RunToExitAsync(timeout);

    public Task RestartAsync() => _process.RestartAsync();

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
    }
}
