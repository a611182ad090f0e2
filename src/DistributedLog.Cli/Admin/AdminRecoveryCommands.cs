using System.CommandLine;
using DistributedLog.Cli.Commands;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Replication;
using DistributedLog.Metadata;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Admin;

/// <summary><c>dlog admin audit | recover | decommission</c>: auto-recovery on demand.</summary>
internal static class AdminRecoveryCommands
{
    public static IEnumerable<Command> Create() => [Audit(), Recover(), Decommission()];

    private static Command Audit()
    {
        var (metadata, json) = (AdminMetadata.Option(), ClientOptions.Json());
        var verify = new Option<bool>("--verify-entries") { Description = "Read every entry of every copy (default: the first and last of each)." };
        var noFragments = new Option<bool>("--no-fragment-check") { Description = "Only look for lost bookies; do not read from live bookies." };
        var command = new Command("audit", "Run the auditor's check now: lost bookies, ledgers with copies on them, fragments missing entries; marks what it finds for re-replication.")
        {
            metadata, verify, noFragments, json,
        };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var cluster = await AdminCluster.OpenAsync(result.GetValue(metadata), ct);
            var report = await new ClusterAudit(cluster.Client, cluster.State, cluster.Logger)
                .RunAsync(null, checkFragments: !result.GetValue(noFragments), result.GetValue(verify), ct);
            if (result.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w =>
                {
                    w.WriteNumber("ledgers", report.Ledgers);
                    w.WriteNumber("underReplicated", report.UnderReplicated);
                    w.WriteNumber("lostBookies", report.LostBookies.Count);
                    w.WriteNumber("markedNow", report.MarkedNow);
                    w.WriteNumber("badFragments", report.BadFragments);
                    w.WriteStartArray("lostBookieIds");
                    foreach (string bookie in report.LostBookies)
                    {
                        w.WriteStringValue(bookie);
                    }

                    w.WriteEndArray();
                    w.WriteStartArray("underReplicatedLedgers");
                    foreach (long ledger in report.UnderReplicatedLedgers)
                    {
                        w.WriteNumberValue(ledger);
                    }

                    w.WriteEndArray();
                });
            }
            else
            {
                Console.WriteLine($"ledgers: {report.Ledgers}");
                Console.WriteLine($"under-replicated: {report.UnderReplicated}{(report.UnderReplicated > 0 ? $" ({string.Join(", ", report.UnderReplicatedLedgers.Take(20))}{(report.UnderReplicated > 20 ? ", …" : "")})" : "")}");
                Console.WriteLine($"lost bookies: {report.LostBookies.Count}{(report.LostBookies.Count > 0 ? $" ({string.Join(", ", report.LostBookies)})" : "")}");
                Console.WriteLine($"marked now: {report.MarkedNow}; fragments missing entries: {report.BadFragments}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Recover() => MoveCopies("recover",
        "Re-replicate at once every copy a dead bookie held (without waiting for the auditor), then remove its registration and cookie.",
        decommission: false);

    private static Command Decommission() => MoveCopies("decommission",
        "Retire a live bookie: mark it draining, re-replicate everything it holds, then remove its registration and cookie (stop its process afterwards).",
        decommission: true);

    private static Command MoveCopies(string name, string description, bool decommission)
    {
        var (metadata, json) = (AdminMetadata.Option(), ClientOptions.Json());
        var bookie = new Argument<string>("bookie") { Description = "The bookie's id (host:port, as `dlog admin bookies` lists it)." };
        var grace = new Option<int>("--open-ledger-grace-seconds")
        {
            Description = "How long a writer may keep the bookie in its open ledger before the ledger is fenced to move its last fragment.",
            DefaultValueFactory = _ => decommission ? 30 : 0,
        };
        var command = new Command(name, description) { bookie, metadata, grace, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string id = result.GetValue(bookie)!;
            if (string.IsNullOrWhiteSpace(id) || !id.Contains(':', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{id}' is not a bookie id (host:port).");
            }

            if (result.GetValue(grace) < 0)
            {
                throw new ArgumentException($"--open-ledger-grace-seconds must not be negative (got {result.GetValue(grace)}).");
            }

            await using var cluster = await AdminCluster.OpenAsync(result.GetValue(metadata), ct);
            var options = new AutoRecoveryOptions
            {
                Identity = $"dlog admin {name} {Environment.MachineName}/{Environment.ProcessId}",
                OpenLedgerGracePeriod = TimeSpan.FromSeconds(result.GetValue(grace)),
                WorkerPollInterval = TimeSpan.FromSeconds(1),
            };
            var done = await new BookieRecovery(cluster.Client, cluster.State, options, cluster.Logger).RunAsync(id, decommission, ct);
            if (result.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w =>
                {
                    w.WriteString("bookie", done.Bookie);
                    w.WriteString("action", name);
                    w.WriteNumber("ledgers", done.Ledgers);
                    w.WriteNumber("fragments", done.Fragments);
                    w.WriteNumber("entries", done.Entries);
                    w.WriteNumber("bytes", done.Bytes);
                    w.WriteNumber("seconds", Math.Round(done.Seconds, 3));
                });
            }
            else
            {
                Console.WriteLine($"{name}: bookie {done.Bookie}: {done.Ledgers} ledgers, {done.Fragments} fragments, {done.Entries} entries ({done.Bytes} bytes) copied in {done.Seconds:F1} s");
                if (decommission)
                {
                    Console.WriteLine($"bookie {done.Bookie} holds nothing the cluster needs any more: stop its process");
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary>The metadata store, ledger client and auto-recovery state an admin command works with.</summary>
    private sealed class AdminCluster : IAsyncDisposable
    {
        private readonly IMetadataStore _store;
        private readonly MetadataBookieRegistry _registry;
        private readonly ILoggerFactory _loggers;

        private AdminCluster(IMetadataStore store, MetadataBookieRegistry registry, LedgerClient client, ILoggerFactory loggers)
        {
            _store = store;
            _registry = registry;
            _loggers = loggers;
            Client = client;
            State = new UnderReplicationStore(store);
            Logger = loggers.CreateLogger("dlog.admin");
        }

        public LedgerClient Client { get; }

        public UnderReplicationStore State { get; }

        public ILogger Logger { get; }

        public static async Task<AdminCluster> OpenAsync(string? uri, CancellationToken cancellationToken)
        {
            var loggers = ServerRun.Logging(LogLevel.Warning);
            var store = await MetadataStores.OpenAsync(AdminMetadata.Resolve(uri), cancellationToken: cancellationToken);
            try
            {
                var registry = await MetadataBookieRegistry.StartAsync(store, loggers, cancellationToken);
                var client = new LedgerClient(new MetadataLedgerStore(store), registry, new LedgerClientOptions { LoggerFactory = loggers });
                return new AdminCluster(store, registry, client, loggers);
            }
            catch
            {
                await store.DisposeAsync();
                loggers.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _registry.DisposeAsync();
            await _store.DisposeAsync();
            _loggers.Dispose();
        }
    }
}

/// <summary>The <c>--metadata</c> option of the admin commands (default <c>$DLOG_METADATA</c>).</summary>
internal static class AdminMetadata
{
    public static Option<string?> Option() => new("--metadata")
    {
        Description = "Metadata store of the cluster: etcd://host:port[/root] or file:///path/meta.db (default: $DLOG_METADATA).",
    };

    public static string Resolve(string? uri) =>
        uri is { Length: > 0 } ? uri
        : Environment.GetEnvironmentVariable("DLOG_METADATA") is { Length: > 0 } fromEnvironment ? fromEnvironment
        : throw new ArgumentException("No metadata store given: pass --metadata etcd://host:port/root (or set DLOG_METADATA).");
}
