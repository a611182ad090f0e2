using System.Diagnostics;
using System.Globalization;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// A long-running process of the chaos cluster (etcd member, bookie, proxy): started with fixed arguments and ports,
/// ready once it prints its ready line (or passes a readiness probe), SIGKILLed, paused, resumed, restarted. Its stdout
/// and stderr go to one log file, appended across restarts.
/// </summary>
internal sealed class ChaosProcess : IAsyncDisposable
{
    private readonly Func<ProcessStartInfo> _startInfo;
    private readonly string? _readyMarker;
    private readonly Func<CancellationToken, Task<bool>>? _probe;
    private readonly StreamWriter _log;
    private readonly object _gate = new();

    // Starts, kills and restarts one at a time: a fault may hit a process whose previous fault is still healing.
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private Process? _process;
    private int _starts;

    /// <param name="name">Name in progress lines and fault schedules (e.g. <c>bookie-2</c>).</param>
    /// <param name="startInfo">How to start it (redirections are set here).</param>
    /// <param name="logPath">File its output is appended to.</param>
    /// <param name="ports">Ports it listens on (for partitions).</param>
    /// <param name="readyMarker">A stdout line containing this means ready.</param>
    /// <param name="probe">Or: ready once this answers true (polled).</param>
    public ChaosProcess(string name, Func<ProcessStartInfo> startInfo, string logPath, IReadOnlyList<int> ports, string? readyMarker = null,
        Func<CancellationToken, Task<bool>>? probe = null)
    {
        Name = name;
        _startInfo = startInfo;
        Ports = ports;
        _readyMarker = readyMarker;
        _probe = probe;
        _log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    public string Name { get; }

    public IReadOnlyList<int> Ports { get; }

    public bool IsRunning
    {
        get
        {
            lock (_gate)
            {
                return _process is { HasExited: false };
            }
        }
    }

    /// <summary>Whether it is stopped by SIGSTOP.</summary>
    public bool IsPaused { get; private set; }

    /// <summary>Starts it and waits until it is ready.</summary>
    /// <exception cref="InvalidOperationException">It exited before it was ready.</exception>
    /// <exception cref="TimeoutException">It was not ready in time (it is killed).</exception>
    public async Task StartAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            await StartLockedAsync(timeout, cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task StartLockedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = _startInfo();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            Write("out", e.Data);
            if (_readyMarker is not null && e.Data.Contains(_readyMarker, StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Write("err", e.Data);
            }
        };
        process.Exited += (_, _) =>
        {
            Write("---", $"exited with code {SafeExitCode(process)}");
            ready.TrySetException(new InvalidOperationException($"{Name} exited before it was ready (see its log)."));
        };
        Write("---", $"start #{++_starts}: {info.FileName} {string.Join(' ', info.ArgumentList)}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _process = process;
            IsPaused = false;
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            if (_probe is not null)
            {
                await ProbeAsync(ready.Task, timer.Token);
            }
            else
            {
                await ready.Task.WaitAsync(timer.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await KillLockedAsync();
            throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds:F0} s (see its log).");
        }
    }

    private async Task ProbeAsync(Task exited, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (exited.IsFaulted)
            {
                await exited;
            }

            if (await _probe!(cancellationToken))
            {
                return;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>SIGKILL, and wait until it is gone.</summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            await KillLockedAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task KillLockedAsync()
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
            _process = null;
            IsPaused = false;
        }

        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>SIGSTOP: it freezes (its sockets stay open; nothing answers).</summary>
    public bool Pause()
    {
        lock (_gate)
        {
            if (_process is { HasExited: false } p && Signals.Send(p.Id, Signals.SigStop))
            {
                IsPaused = true;
                return true;
            }

            return false;
        }
    }

    /// <summary>SIGCONT.</summary>
    public void Resume()
    {
        lock (_gate)
        {
            if (_process is { HasExited: false } p)
            {
                Signals.Send(p.Id, Signals.SigCont);
            }

            IsPaused = false;
        }
    }

    /// <summary>SIGKILL then start again.</summary>
    public async Task RestartAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            await KillLockedAsync();
            await StartLockedAsync(timeout, cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        await _log.DisposeAsync();
        _lifecycle.Dispose();
    }

    /// <summary>Writes a line of the chaos runner's own into this process's log (e.g. the faults it suffered).</summary>
    public void Note(string text) => Write("!!!", text);

    private void Write(string stream, string line)
    {
        string stamped = $"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {stream} {line}";
        lock (_log)
        {
            try
            {
                _log.WriteLine(stamped);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private static string SafeExitCode(Process process)
    {
        try
        {
            return process.ExitCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }
}
