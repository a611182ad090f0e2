using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DistributedLog.Testing;

/// <summary>
/// A long-running <c>dlog</c> command (bookie, proxy, sandbox) as its own operating-system process: started with fixed
/// arguments, ready once it prints its ready line, SIGKILLed or SIGTERMed, restarted with the same arguments.
/// </summary>
public sealed class DlogServerProcess(string name, IReadOnlyList<string> arguments, string readyMarker = " ready") : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    public string Name { get; } = name;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process id while it runs.</summary>
    public int? ProcessId => _process?.Id;

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

    /// <summary>Starts the process and waits for its ready line.</summary>
    /// <exception cref="InvalidOperationException">It exited before it was ready.</exception>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is already running.");
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(BookieProcess.DlogDll);
        foreach (string arg in arguments)
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
            if (e.Data.Contains(readyMarker, StringComparison.Ordinal))
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
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"{Name} exited with {process.ExitCode}:\n{Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        try
        {
            await ready.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not print its ready line in time:\n{Output}");
        }
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

    /// <summary>SIGTERM (<paramref name="signals"/> times in a row) and wait for the process to exit; returns its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null, int signals = 1)
    {
        if (_process is null)
        {
            return 0;
        }

        for (int i = 0; i < signals && !_process.HasExited; i++)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        int code = _process.ExitCode;
        _process.Dispose();
        _process = null;
        return code;
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

    public ValueTask DisposeAsync() => new(KillAsync());

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
