using System.Text.Json;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Segments;
using DistributedLog.Writers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Sandbox;

/// <summary>
/// The embedded default: one process holding the embedded metadata store (SQLite at <c>&lt;data&gt;/meta.db</c>), N
/// bookies (<c>&lt;data&gt;/bookie-i</c>, on loopback ports chosen at the first start and kept in
/// <c>&lt;data&gt;/sandbox.json</c>, because a bookie's id is its address) and a write proxy. Restarting on the same
/// data directory — also after a SIGKILL — recovers everything acknowledged: the bookies replay their journals, then
/// every segment a killed run left in progress is recovered before the proxy serves (a write may still be retried for a
/// few seconds, until the killed run's ownership leases expire).
/// </summary>
internal sealed class SandboxHost : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _parts = [];

    private SandboxHost()
    {
    }

    public required string DataDirectory { get; init; }

    public required IReadOnlyList<string> BookieIds { get; init; }

    public ProxyHost Proxy { get; private set; } = null!;

    public static async Task<SandboxHost> StartAsync(string dataDirectory, int port, int bookies, ILoggerFactory loggerFactory, CancellationToken cancellationToken,
        long minFreeDiskBytes = 256L << 20, RetentionPolicy? retention = null, TimeSpan? retentionCheckInterval = null)
    {
        if (bookies is < 1 or > 9)
        {
            throw new ArgumentException($"--bookies must be between 1 and 9 (got {bookies}).");
        }

        if (port is < 0 or > 65535)
        {
            throw new ArgumentException($"--port must be within 0..65535 (got {port}).");
        }

        Directory.CreateDirectory(dataDirectory);
        var ports = SandboxLayout.LoadOrCreate(dataDirectory, bookies);
        var store = await MetadataStores.OpenAsync(new Uri(Path.Combine(Path.GetFullPath(dataDirectory), "meta.db")).AbsoluteUri, cancellationToken: cancellationToken);
        var parts = new List<IAsyncDisposable> { store };
        try
        {
            var ids = new List<string>();
            for (int i = 0; i < ports.Count; i++)
            {
                var bookie = await BookieHost.StartAsync(new BookieHostOptions
                {
                    DataDirectory = Path.Combine(dataDirectory, $"bookie-{i}"),
                    Port = ports[i],
                    MetadataStore = store,
                    WriteCacheSize = 16L << 20,
                    JournalFileSize = 16L << 20,
                    EntryLogSizeLimit = 64L << 20,
                    MinFreeDiskBytes = minFreeDiskBytes,
                }, loggerFactory, cancellationToken: cancellationToken);
                parts.Add(bookie);
                ids.Add(bookie.BookieId);
            }

            var registry = await MetadataBookieRegistry.StartAsync(store, loggerFactory, cancellationToken);
            parts.Add(registry);
            var ledgers = new LedgerClient(new MetadataLedgerStore(store), registry, new LedgerClientOptions { LoggerFactory = loggerFactory });
            parts.Add(ledgers);
            var ns = DistributedLogNamespace.Create(store, ledgers, "default", loggerFactory);
            parts.Add(ns);
            await RecoverOpenSegmentsAsync(ns, loggerFactory.CreateLogger<SandboxHost>(), cancellationToken);
            int ensemble = Math.Min(3, ports.Count);
            var proxy = await ProxyHost.StartAsync(new ProxyOptions
            {
                Port = port,
                OwnershipTtl = TimeSpan.FromSeconds(5),
                Retention = retention ?? RetentionPolicy.KeepForever,
                RetentionCheckInterval = retentionCheckInterval ?? TimeSpan.FromMinutes(5),
                Writer = new LogWriterOptions
                {
                    EnsembleSize = ensemble,
                    WriteQuorumSize = ensemble,
                    AckQuorumSize = Math.Min(2, ensemble),
                    KeepAliveInterval = TimeSpan.FromSeconds(5),
                },
            }, ns, loggerFactory, cancellationToken);
            parts.Add(proxy);
            var host = new SandboxHost { DataDirectory = Path.GetFullPath(dataDirectory), BookieIds = ids, Proxy = proxy };
            host._parts.AddRange(parts);
            return host;
        }
        catch
        {
            for (int i = parts.Count - 1; i >= 0; i--)
            {
                await parts[i].DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>
    /// Completes every in-progress segment before the proxy serves. The embedded store belongs to this process alone, so
    /// an in-progress segment found at start was left by a previous run that was killed: its writer is gone, and the
    /// records it acknowledged last are not covered by its ledgers' LAC, so readers would not see them until a new
    /// writer recovered the log. Recovering here (fencing, finding the last entry, completing the segment) makes
    /// everything acknowledged readable as soon as the sandbox is ready.
    /// </summary>
    private static async Task RecoverOpenSegmentsAsync(DistributedLogNamespace ns, ILogger logger, CancellationToken cancellationToken)
    {
        int recovered = 0;
        foreach (string name in await ns.ListLogsAsync(cancellationToken: cancellationToken))
        {
            var log = ns.OpenLog(name);
            if ((await log.GetSegmentsAsync(cancellationToken)).Any(s => s.IsInProgress))
            {
                await log.RecoverAsync(cancellationToken);
                recovered++;
            }
        }

        if (recovered > 0)
        {
            logger.LogInformation("Recovered the in-progress segments of {Count} logs left open by the previous run", recovered);
        }
    }

    /// <summary>Stops in reverse order: the proxy drains (completing its logs' segments), then the bookies, then the store.</summary>
    public async ValueTask DisposeAsync()
    {
        for (int i = _parts.Count - 1; i >= 0; i--)
        {
            await _parts[i].DisposeAsync();
        }
    }
}

/// <summary><c>&lt;data&gt;/sandbox.json</c>: the bookies' ports, fixed at the first start.</summary>
internal static class SandboxLayout
{
    public static IReadOnlyList<int> LoadOrCreate(string dataDirectory, int bookies)
    {
        string path = Path.Combine(dataDirectory, "sandbox.json");
        if (File.Exists(path))
        {
            SandboxFile? file;
            try
            {
                file = JsonSerializer.Deserialize(File.ReadAllBytes(path), SandboxJson.Default.SandboxFile);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"'{path}' is not a valid sandbox file: {e.Message}", e);
            }

            if (file?.BookiePorts is not { Length: > 0 } known || known.Any(p => p is <= 0 or > 65535))
            {
                throw new InvalidDataException($"'{path}' lists no valid bookie ports.");
            }

            if (known.Length != bookies)
            {
                throw new ArgumentException(
                    $"The sandbox in '{dataDirectory}' was created with {known.Length} bookies; start it with --bookies {known.Length} (or use another --data).");
            }

            return known;
        }

        int[] ports = [.. Enumerable.Range(0, bookies).Select(_ => FreePort())];
        string temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(new SandboxFile { BookiePorts = ports }, SandboxJson.Default.SandboxFile));
        File.Move(temporary, path, overwrite: true);
        return ports;
    }

    private static int FreePort() => DistributedLog.Bookie.Server.FreePorts.Pick();
}

/// <summary>The sandbox file's content.</summary>
internal sealed class SandboxFile
{
    public int[] BookiePorts { get; init; } = [];
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(SandboxFile))]
internal sealed partial class SandboxJson : System.Text.Json.Serialization.JsonSerializerContext;
