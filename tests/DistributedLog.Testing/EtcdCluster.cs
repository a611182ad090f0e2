using System.Diagnostics;

namespace DistributedLog.Testing;

/// <summary>A real etcd cluster of N members on loopback, each its own process and data directory.</summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly List<(Process Process, string Data, int Client)> _members = [];

    /// <summary>Each member's client address (<c>127.0.0.1:port</c>).</summary>
    public IReadOnlyList<string> Endpoints => [.. _members.Select(m => $"127.0.0.1:{m.Client}")];

    /// <summary>Starts <paramref name="size"/> members and waits until each reports itself healthy.</summary>
    public static async Task<EtcdCluster> StartAsync(int size)
    {
        var cluster = new EtcdCluster();
        var ports = Enumerable.Range(0, size).Select(_ => (Client: BookieProcess.FreePort(), Peer: BookieProcess.FreePort())).ToList();
        string initial = string.Join(',', ports.Select((p, i) => $"m{i}=http://127.0.0.1:{p.Peer}"));
        string token = Guid.NewGuid().ToString("N");
        try
        {
            for (int i = 0; i < size; i++)
            {
                string data = Path.Combine(Path.GetTempPath(), $"dl-etcd-q{i}-{Guid.NewGuid():N}");
                var info = new ProcessStartInfo("etcd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (string arg in new[]
                {
                    "--name", $"m{i}", "--data-dir", data,
                    "--listen-client-urls", $"http://127.0.0.1:{ports[i].Client}", "--advertise-client-urls", $"http://127.0.0.1:{ports[i].Client}",
                    "--listen-peer-urls", $"http://127.0.0.1:{ports[i].Peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{ports[i].Peer}",
                    "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", token,
                    "--log-level", "error",
                })
                {
                    info.ArgumentList.Add(arg);
                }

                var process = Process.Start(info)!;
                process.OutputDataReceived += (_, _) => { };
                process.ErrorDataReceived += (_, _) => { };
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                cluster._members.Add((process, data, ports[i].Client));
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var clock = Stopwatch.StartNew();
            foreach (var member in cluster._members)
            {
                while (true)
                {
                    try
                    {
                        if ((await http.GetStringAsync($"http://127.0.0.1:{member.Client}/health")).Contains("\"health\":\"true\"", StringComparison.Ordinal))
                        {
                            break;
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                    }

                    if (clock.Elapsed > TimeSpan.FromSeconds(30))
                    {
                        throw new TimeoutException("the etcd cluster did not become healthy within 30 s");
                    }
                    await Task.Delay(100);
                }
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGSTOP of one member: it freezes with its sockets open.</summary>
    public void Pause(int member) => Signal(member, "STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume(int member) => Signal(member, "CONT");

    private void Signal(int member, string signal) => ProcessSignals.Send(_members[member].Process.Id, signal);

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, data, _) in _members)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
