using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DistributedLog.Testing;

/// <summary>
/// A bookie running as its own operating-system process (<c>dlog bookie</c>), on a fixed loopback port that survives
/// restarts. Tests SIGKILL it, restart it on the same data, or wipe its data.
/// </summary>
public sealed class BookieProcess : IAsyncDisposable
{
    private readonly string[] _extraArgs;
    private readonly StringBuilder _output = new();
    private Process? _process;

    public BookieProcess(string dataDirectory, params string[] extraArgs)
    {
        DataDirectory = dataDirectory;
        Port = FreePort();
        _extraArgs = extraArgs;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string BookieId => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the process printed (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Path of the dlog entry assembly next to the test assembly.</summary>
    public static string DlogDll => Path.Combine(AppContext.BaseDirectory, "dlog.dll");

    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("The bookie is already running.");
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DlogDll);
        foreach (string arg in new[] { "bookie", "--data", DataDirectory, "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--min-free-mb", "0" }.Concat(_extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(e.Data);
            }

            if (e.Data.Contains(" ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(e.Data);
                }
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"bookie exited with {process.ExitCode}:\n{Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await ready.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGKILL: the process dies at once, with no chance to flush anything.</summary>
    public async Task KillAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>SIGTERM and wait for a clean exit.</summary>
    public async Task<int> StopAsync()
    {
        if (_process is null)
        {
            return 0;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        int code = _process.ExitCode;
        _process.Dispose();
        _process = null;
        return code;
    }

    /// <summary>SIGKILL, then delete every byte of the bookie's data, as a replaced or wiped disk would.</summary>
    public async Task WipeAsync()
    {
        await KillAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }

    /// <summary>Starts the process and waits for it to exit (for starts that must be refused); returns its exit code.</summary>
    public async Task<int> RunToExitAsync(TimeSpan timeout)
    {
        try
        {
            await StartAsync(timeout);
        }
        catch (InvalidOperationException)
        {
            // Exited before "ready": what a refused start looks like.
        }

        if (_process is null)
        {
            return 0;
        }

        await _process.WaitForExitAsync().WaitAsync(timeout);
        int code = _process.ExitCode;
        _process.Dispose();
        _process = null;
        return code;
    }

    public async Task RestartAsync()
    {
        await KillAsync();
        await StartAsync();
    }

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
