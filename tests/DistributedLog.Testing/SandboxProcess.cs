using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DistributedLog.Testing;

/// <summary>
/// <c>dlog sandbox</c> (embedded metadata, bookies and a write proxy in one process) running as its own operating-system
/// process on a free loopback port that survives restarts. Tests stop it with SIGTERM (expecting a clean exit), SIGKILL it
/// and restart it on the same data directory. Client commands talk to <see cref="Endpoint"/> (see <see cref="Dlog"/>).
/// </summary>
public sealed class SandboxProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly string[] _extraArgs;
    private Process? _process;

    public SandboxProcess(string? dataDirectory = null, params string[] extraArgs)
    {
        DataDirectory = dataDirectory ?? TestEntries.TempDirectory("sandbox");
        Port = BookieProcess.FreePort();
        _extraArgs = extraArgs;
    }

    public string DataDirectory { get; }

    /// <summary>Port of the write proxy, the same across restarts.</summary>
    public int Port { get; }

    /// <summary>The proxy's URL, what <c>--endpoint</c> and <c>DLOG_ENDPOINT</c> take.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the current and earlier runs printed (stdout and stderr), for failure messages.</summary>
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

    /// <summary>Starts <c>dlog sandbox --data DIR --port P</c> and waits for its line containing <c>ready</c>.</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("The sandbox is already running.");
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(BookieProcess.DlogDll);
        foreach (string arg in new[] { "sandbox", "--data", DataDirectory, "--port", Port.ToString(CultureInfo.InvariantCulture) }.Concat(_extraArgs))
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

            Append(e.Data);
            if (e.Data.Contains("ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Append(e.Data);
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"sandbox exited before it was ready:\n{Output}"));
        Append($"--- start {DateTime.UtcNow:HH:mm:ss.fff}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        try
        {
            await ready.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The sandbox did not print 'ready' in time:\n{Output}");
        }
    }

    /// <summary>SIGTERM, then waits for the process to exit; returns its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process is null)
        {
            return 0;
        }

        await Dlog.SignalAsync(_process.Id, "TERM");
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The sandbox did not exit after SIGTERM:\n{Output}");
        }

        _process.WaitForExit(); // drains the redirected output
        int code = _process.ExitCode;
        _process.Dispose();
        _process = null;
        return code;
    }

    /// <summary>SIGKILL: the process dies at once, with no chance to flush or release anything.</summary>
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

    /// <summary>SIGKILL, then a start on the same data directory and port.</summary>
    public async Task RestartAsync()
    {
        await KillAsync();
        await StartAsync();
    }

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

    private void Append(string line)
    {
        lock (_output)
        {
            if (_output.Length < 256 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }
}
