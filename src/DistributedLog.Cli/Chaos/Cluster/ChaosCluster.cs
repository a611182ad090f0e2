using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// The cluster a chaos run attacks, on loopback: a 3-member etcd cluster, bookies (E=3, Qw=3, Qa=2) and proxies, each its
/// own process started from the running <c>dlog</c>, with data and logs under the work directory. When running as root,
/// the first bookie's journal lives on a small tmpfs (for disk-full faults) and partitions use an nft table of the run's own.
/// </summary>
internal sealed class ChaosCluster : IAsyncDisposable
{
    public const int EnsembleSize = 3;
    public const int WriteQuorum = 3;
    public const int AckQuorum = 2;

    /// <summary>Bytes after which a segment rolls (small, so runs cross many segments).</summary>
    public const long SegmentBytes = 64 * 1024;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<ChaosProcess> _etcd = [];
    private readonly List<ChaosProcess> _bookies = [];
    private readonly List<ChaosProcess> _proxies = [];
    private readonly Dictionary<string, TmpfsDisk> _disks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _journals = new(StringComparer.Ordinal);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };

    private ChaosCluster(string workDirectory) => WorkDirectory = workDirectory;

    public string WorkDirectory { get; }

    public string MetadataUri { get; private set; } = "";

    public IReadOnlyList<ChaosProcess> EtcdMembers => _etcd;

    public IReadOnlyList<ChaosProcess> Bookies => _bookies;

    public IReadOnlyList<ChaosProcess> Proxies => _proxies;

    public IReadOnlyList<string> ProxyEndpoints => [.. _proxies.Select(p => $"http://127.0.0.1:{p.Ports[0]}")];

    /// <summary>Bookies whose journal is a small tmpfs that disk faults fill, by name (empty unless root).</summary>
    public IReadOnlyDictionary<string, TmpfsDisk> Disks => _disks;

    /// <summary>The run's nft table, when partitions are possible here.</summary>
    public Firewall? Firewall { get; private set; }

    public IEnumerable<ChaosProcess> All => _etcd.Concat(_bookies).Concat(_proxies);

    public ChaosProcess Process(string name) => All.Single(p => p.Name == name);

    /// <summary>The journal directory of bookie <paramref name="bookie"/>.</summary>
    public string JournalDirectory(string bookie) => _journals[bookie];

    /// <summary>The file whose existence makes bookie <paramref name="bookie"/>'s file writes fail with EIO (its <c>--fault-file</c>).</summary>
    public string FaultFile(string bookie) => Path.Combine(WorkDirectory, bookie + ".eio");

    public static async Task<ChaosCluster> StartAsync(int bookies, int proxies, string workDirectory, Action<string> progress, CancellationToken cancellationToken)
    {
        var cluster = new ChaosCluster(workDirectory);
        try
        {
            await cluster.StartEtcdAsync(cancellationToken);
            progress($"etcd members up: {string.Join(", ", cluster._etcd.Select(e => $"{e.Name} 127.0.0.1:{e.Ports[0]}"))}");
            if (Environment.IsPrivilegedProcess && await Firewall.IsAvailableAsync())
            {
                cluster.Firewall = new Firewall();
                await cluster.Firewall.CreateAsync();
            }

            for (int i = 0; i < bookies; i++)
            {
                await cluster.AddBookieAsync(i, withTmpfsJournal: i == 0 && Environment.IsPrivilegedProcess);
            }

            await Task.WhenAll(cluster._bookies.Select(b => b.StartAsync(StartTimeout, cancellationToken)));
            progress($"{bookies} bookies up");
            for (int i = 0; i < proxies; i++)
            {
                cluster.AddProxy(i);
            }

            await Task.WhenAll(cluster._proxies.Select(p => p.StartAsync(StartTimeout, cancellationToken)));
            progress($"{proxies} proxies up: {string.Join(", ", cluster.ProxyEndpoints)}");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartEtcdAsync(CancellationToken cancellationToken)
    {
        var ports = Enumerable.Range(0, 3).Select(_ => (Client: FreePort(), Peer: FreePort())).ToList();
        string initial = string.Join(",", ports.Select((p, i) => $"e{i}=http://127.0.0.1:{p.Peer}"));
        for (int i = 0; i < 3; i++)
        {
            var (client, peer) = ports[i];
            string data = Path.Combine(WorkDirectory, $"etcd-{i}");
            Directory.CreateDirectory(data);
            string name = $"e{i}";
            _etcd.Add(new ChaosProcess($"etcd-{i}", () =>
            {
                var info = new ProcessStartInfo(EtcdBinary());
                foreach (string argument in new[]
                {
                    "--name", name, "--data-dir", data,
                    "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
                    "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
                    "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", Path.GetFileName(WorkDirectory),
                    "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
                })
                {
                    info.ArgumentList.Add(argument);
                }

                return info;
            }, Path.Combine(WorkDirectory, $"etcd-{i}.log"), [client, peer], probe: ct => HealthyAsync(client, ct)));
        }

        MetadataUri = $"etcd://{string.Join(",", ports.Select(p => $"127.0.0.1:{p.Client}"))}/chaos";
        await Task.WhenAll(_etcd.Select(e => e.StartAsync(StartTimeout, cancellationToken)));
    }

    private async Task<bool> HealthyAsync(int clientPort, CancellationToken cancellationToken)
    {
        try
        {
            string health = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{clientPort}/health"), cancellationToken);
            return health.Contains("\"health\":\"true\"", StringComparison.Ordinal);
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task AddBookieAsync(int i, bool withTmpfsJournal)
    {
        string name = $"bookie-{i}";
        int port = FreePort();
        string data = Path.Combine(WorkDirectory, name);
        Directory.CreateDirectory(data);
        var arguments = new List<string>
        {
            "bookie", "--data", data, "--port", Str(port), "--metadata", MetadataUri, "--journal-file-mb", "4", "--write-cache-mb", "8",
            "--entry-log-mb", "16", "--flush-interval-seconds", "2", "--min-free-mb", "8", "--fault-file", FaultFile(name),
            // Auto-recovery on a short fuse, so a bookie killed, paused or cut off for a few seconds has its ledgers
            // re-replicated (and open ledgers fenced by a worker) while the workload runs.
            "--lost-bookie-delay-seconds", "3", "--open-ledger-grace-seconds", "5", "--audit-interval-hours", "0",
        };
        _journals[name] = Path.Combine(data, "journal");
        if (withTmpfsJournal)
        {
            var disk = new TmpfsDisk(Path.Combine(WorkDirectory, name + "-journal"), sizeMb: 48);
            await disk.MountAsync();
            _disks[name] = disk;
            arguments.AddRange(["--journal-dir", disk.Directory]);
            _journals[name] = disk.Directory;
        }

        _bookies.Add(new ChaosProcess(name, () => DlogExecutable.StartInfo(arguments), Path.Combine(WorkDirectory, name + ".log"), [port], readyMarker: " ready"));
    }

    private void AddProxy(int i)
    {
        string name = $"proxy-{i}";
        int port = FreePort();
        string[] arguments =
        [
            "proxy", "--port", Str(port), "--admin-port", "-1", "--metadata", MetadataUri, "--ownership-ttl-seconds", "4",
            "--request-timeout-seconds", "15", "--ensemble-size", Str(EnsembleSize), "--write-quorum", Str(WriteQuorum),
            "--ack-quorum", Str(AckQuorum), "--max-segment-bytes", Str(SegmentBytes),
        ];
        _proxies.Add(new ChaosProcess(name, () => DlogExecutable.StartInfo(arguments), Path.Combine(WorkDirectory, name + ".log"), [port], readyMarker: " ready"));
    }

    /// <summary>Restarts one process (SIGKILL, start), retrying a start that fails until <paramref name="cancellationToken"/>.</summary>
    public static async Task RestartAsync(ChaosProcess process, Action<string> progress, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await process.RestartAsync(StartTimeout, cancellationToken);
                return;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException && attempt < 10)
            {
                progress($"{process.Name} did not start (attempt {attempt}: {e.Message}); retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    /// <summary>Restarts every process once, one at a time (etcd members first, each healthy before the next).</summary>
    public async Task RestartEveryProcessAsync(Action<string> progress, CancellationToken cancellationToken)
    {
        foreach (var process in All)
        {
            await RestartAsync(process, progress, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_proxies.Concat(_bookies).Select(p => p.DisposeAsync().AsTask()));
        await Task.WhenAll(_etcd.Select(p => p.DisposeAsync().AsTask()));
        foreach (var disk in _disks.Values)
        {
            await disk.DisposeAsync();
        }

        if (Firewall is not null)
        {
            await Firewall.DisposeAsync();
        }

        _http.Dispose();
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string EtcdBinary()
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
        {
            if (directory.Length > 0 && File.Exists(Path.Combine(directory, "etcd")))
            {
                return Path.Combine(directory, "etcd");
            }
        }

        throw new InvalidOperationException("The etcd binary was not found on PATH or at /usr/bin/etcd (Debian package etcd-server).");
    }

    private static int FreePort() => DistributedLog.Bookie.Server.FreePorts.Pick();
}
