using Xunit;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DistributedLog.Testing;

/// <summary>
/// A real etcd server on free loopback ports with a temporary data directory, for one test class (xunit class fixture).
/// It can be killed (SIGKILL) and restarted on the same data directory; disposing it stops it and deletes the data.
/// </summary>
public sealed class EtcdServer : IAsyncLifetime
{
    private readonly StringBuilder _log = new();
    private Process? _process;

    public EtcdServer()
    {
        DataDirectory = Path.Combine(Path.GetTempPath(), "dl-etcd-" + Guid.NewGuid().ToString("N"));
        ClientPort = BookieProcess.FreePort();
        PeerPort = BookieProcess.FreePort();
    }

    public string DataDirectory { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public string Endpoint => $"127.0.0.1:{ClientPort}";

    /// <summary>A metadata store URI under a fresh root, so tests sharing this server do not see each other's keys.</summary>
    public string NewStoreUri() => $"etcd://{Endpoint}/t-{Guid.NewGuid():N}";

    public bool IsRunning => _process is { HasExited: false };

    public Task InitializeAsync() => StartAsync();

    public async Task StartAsync()
    {
        string binary = FindBinary();
        Directory.CreateDirectory(DataDirectory);
        string peer = $"http://127.0.0.1:{PeerPort}";
        string client = $"http://127.0.0.1:{ClientPort}";
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            "--name", "dltest",
            "--data-dir", DataDirectory,
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"dltest={peer}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        })
        {
            start.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitHealthyAsync(TimeSpan.FromSeconds(20));
    }

    /// <summary>Kills etcd with SIGKILL and waits until it is gone.</summary>
    public void Kill()
    {
        if (_process is null)
            return;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        _process = null;
    }

    /// <summary>SIGSTOP: etcd freezes (a stuck disk, a long GC) with its sockets open; clients see silence, not refusals.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        if (_process is null || _process.HasExited)
        {
            throw new InvalidOperationException("etcd is not running.");
        }

        ProcessSignals.Send(_process.Id, signal);
    }

    /// <summary>Starts etcd again on the same ports and data directory.</summary>
    public Task RestartAsync()
    {
        Kill();
        return StartAsync();
    }

    public Task DisposeAsync()
    {
        Kill();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_log)
        {
            if (_log.Length < 64 * 1024)
                _log.AppendLine(line);
        }
    }

    private string RecentLog()
    {
        lock (_log)
            return _log.ToString();
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process is null || _process.HasExited)
                throw new InvalidOperationException($"etcd exited while starting (exit code {_process?.ExitCode}). Its log:\n{RecentLog()}");
            try
            {
                string health = await http.GetStringAsync($"http://127.0.0.1:{ClientPort}/health");
                if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"etcd did not become healthy within {timeout}. Its log:\n{RecentLog()}");
    }

    private static string FindBinary()
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
        {
            if (directory.Length == 0)
                continue;
            string candidate = Path.Combine(directory, "etcd");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException(
            "The etcd binary was not found on PATH or at /usr/bin/etcd. Run ./test.sh, which installs it " +
            "(apt-get install etcd-server), or install the Debian package etcd-server yourself.");
    }
}
