using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DistributedLog.Testing;

/// <summary>What a finished <c>dlog</c> command left: exit code, stdout and stderr.</summary>
public sealed record DlogResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The non-empty lines of stdout.</summary>
    public IReadOnlyList<string> Lines => SplitLines(Stdout);

    /// <summary>The non-empty lines of stderr.</summary>
    public IReadOnlyList<string> ErrorLines => SplitLines(Stderr);

    /// <summary>For assertion messages.</summary>
    public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{Truncate(Stdout)}\n--- stderr\n{Truncate(Stderr)}";

    internal static IReadOnlyList<string> SplitLines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    private static string Truncate(string text) => text.Length <= 8192 ? text : text[..4096] + "\n[...]\n" + text[^4096..];
}

/// <summary>How to run a <c>dlog</c> command.</summary>
public sealed class DlogRunOptions
{
    /// <summary>Bytes fed to stdin, which is then closed (stdin is always redirected: no input means an empty one).</summary>
    public byte[]? StdinBytes { get; init; }

    /// <summary>Text (UTF-8, no BOM) fed to stdin.</summary>
    public string? Stdin { get; init; }

    /// <summary>
    /// Environment variables to set (null value: unset). <c>DLOG_ENDPOINT</c> is always unset first, so that the
    /// environment of whoever runs the tests does not leak into them.
    /// </summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>How long the command may run before it is killed and the run fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);
}

/// <summary>Runs the <c>dlog</c> tool (the <c>dlog.dll</c> next to the test assembly) as a separate process.</summary>
public static class Dlog
{
    /// <summary>Runs <c>dlog ARGS</c> to completion and returns its exit code and output.</summary>
    /// <exception cref="TimeoutException">It ran longer than <see cref="DlogRunOptions.Timeout"/> (it is killed).</exception>
    public static async Task<DlogResult> RunAsync(string[] args, DlogRunOptions? options = null)
    {
        options ??= new DlogRunOptions();
        using var process = new Process { StartInfo = StartInfo(args, options) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var feeding = FeedAsync(process, options);
        try
        {
            await process.WaitForExitAsync().WaitAsync(options.Timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"dlog {string.Join(' ', args)} did not finish within {options.Timeout}:\n" +
                new DlogResult(-1, await stdout, await stderr));
        }

        await feeding;
        return new DlogResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>dlog ARGS</c> and returns at once; its output is collected line by line as it comes.</summary>
    public static DlogProcess Start(string[] args, DlogRunOptions? options = null)
    {
        options ??= new DlogRunOptions();
        return new DlogProcess(StartInfo(args, options), options, string.Join(' ', args));
    }

    /// <summary>Sends a signal (<c>TERM</c>, <c>INT</c>, <c>KILL</c>) to a process.</summary>
    public static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    internal static async Task FeedAsync(Process process, DlogRunOptions options)
    {
        byte[]? input = options.StdinBytes ?? (options.Stdin is null ? null : new UTF8Encoding(false).GetBytes(options.Stdin));
        var stdin = process.StandardInput.BaseStream;
        try
        {
            if (input is not null)
            {
                await stdin.WriteAsync(input);
                await stdin.FlushAsync();
            }
        }
        catch (IOException)
        {
            // The command stopped reading (it failed, or did not need the rest): a broken pipe is its business.
        }
        finally
        {
            try
            {
                stdin.Close();
            }
            catch (IOException)
            {
            }
        }
    }

    private static ProcessStartInfo StartInfo(string[] args, DlogRunOptions options)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            UseShellExecute = false,
        };
        info.ArgumentList.Add(BookieProcess.DlogDll);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("DLOG_ENDPOINT");
        foreach (var (name, value) in options.Environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        return info;
    }
}

/// <summary>A running <c>dlog</c> command (e.g. <c>read --follow</c> or a long <c>write</c>) whose stdout lines are collected as they come.</summary>
public sealed class DlogProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _command;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _feeding;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal DlogProcess(ProcessStartInfo info, DlogRunOptions options, string command)
    {
        _command = command;
        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdoutClosed.TrySetResult();
            }
            else
            {
                lock (_lines)
                {
                    _lines.Add(e.Data);
                }
            }

            Changed();
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stderrClosed.TrySetResult();
                return;
            }

            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _feeding = Dlog.FeedAsync(_process, options);
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The stdout lines so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Waits until stdout has at least <paramref name="count"/> lines (or the process ended); returns the lines.</summary>
    /// <exception cref="TimeoutException">Not within <paramref name="timeout"/>.</exception>
    public Task<IReadOnlyList<string>> WaitForLinesAsync(int count, TimeSpan timeout) =>
        WaitForAsync(lines => lines.Count >= count, $"{count} lines", timeout);

    /// <summary>Waits until the stdout lines satisfy <paramref name="condition"/>; fails if the process exits first.</summary>
    public async Task<IReadOnlyList<string>> WaitForAsync(Func<IReadOnlyList<string>, bool> condition, string what, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            Task changed;
            lock (_lines)
            {
                changed = _changed.Task;
            }

            var lines = Lines;
            if (condition(lines))
            {
                return lines;
            }

            if (_stdoutClosed.Task.IsCompleted)
            {
                throw new InvalidOperationException($"dlog {_command} ended before {what} (exit code {ExitCodeOrNull()}):\n{Describe()}");
            }

            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                throw new TimeoutException($"dlog {_command}: no {what} within {timeout}:\n{Describe()}");
            }

            try
            {
                await changed.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, 500)));
            }
            catch (TimeoutException)
            {
                // Look again (the process may have ended without more output).
            }
        }
    }

    /// <summary>Sends a signal (<c>TERM</c>, <c>INT</c>) and waits for the exit; returns the result.</summary>
    public async Task<DlogResult> SignalAndWaitAsync(string signal, TimeSpan timeout)
    {
        await Dlog.SignalAsync(_process.Id, signal);
        return await WaitForExitAsync(timeout);
    }

    /// <summary>SIGKILL and wait for the exit.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Waits for the process to end by itself; returns its result.</summary>
    /// <exception cref="TimeoutException">Not within <paramref name="timeout"/>.</exception>
    public async Task<DlogResult> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"dlog {_command} did not exit within {timeout}:\n{Describe()}");
        }

        await _feeding;
        return new DlogResult(_process.ExitCode, string.Join('\n', Lines), Stderr);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        await _feeding;
        _process.Dispose();
    }

    private void Changed()
    {
        TaskCompletionSource changed;
        lock (_lines)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    private string? ExitCodeOrNull() => _process.HasExited ? _process.ExitCode.ToString(CultureInfo.InvariantCulture) : null;

    private string Describe()
    {
        var lines = Lines;
        return $"--- stdout ({lines.Count} lines, last ones)\n{string.Join('\n', lines.Skip(Math.Max(0, lines.Count - 20)))}\n--- stderr\n{Stderr}";
    }
}
