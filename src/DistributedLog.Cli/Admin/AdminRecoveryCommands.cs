using System.CommandLine;
using DistributedLog.Cli.Commands;
using DistributedLog.Ledgers.Replication;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Cli.Admin;

/// <summary><c>dlog admin audit | recover | decommission</c>: auto-recovery on demand.</summary>
internal static class AdminRecoveryCommands
{
    public static Command Audit()
    {
        var options = new AdminOptions();
        var verify = new Option<bool>("--verify-entries") { Description = "Read every entry of every copy (default: the first and last of each)." };
        var noFragments = new Option<bool>("--no-fragment-check") { Description = "Only look for lost bookies; do not read from live bookies." };
        var command = options.Command("audit",
            "Run the auditor's check now: lost bookies, ledgers with copies on them, fragments missing entries; marks what it finds for re-replication.",
            verify, noFragments);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var report = await new ClusterAudit(ns.Ledgers, new UnderReplicationStore(ns.Store), NullLogger.Instance)
                .RunAsync(null, checkFragments: !result.GetValue(noFragments), result.GetValue(verify), ct);
            if (result.GetValue(options.Json))
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

    public static Command Recover() => MoveCopies("recover",
        "Re-replicate at once every copy a dead bookie held (without waiting for the auditor), then remove its registration and cookie.",
        decommission: false);

    public static Command Decommission() => MoveCopies("decommission",
        "Retire a live bookie: mark it draining, re-replicate everything it holds, then remove its registration and cookie (stop its process afterwards).",
        decommission: true);

    private static Command MoveCopies(string name, string description, bool decommission)
    {
        var options = new AdminOptions();
        var bookie = new Argument<string>("bookie") { Description = "The bookie's id (host:port, as `dlog admin bookies` lists it)." };
        var grace = new Option<int>("--open-ledger-grace-seconds")
        {
            Description = "How long a writer may keep the bookie in its open ledger before the ledger is fenced to move its last fragment.",
            DefaultValueFactory = _ => decommission ? 30 : 0,
        };
        var command = options.Command(name, description, bookie, grace);
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

            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var recovery = new AutoRecoveryOptions
            {
                Identity = $"dlog admin {name} {Environment.MachineName}/{Environment.ProcessId}",
                OpenLedgerGracePeriod = TimeSpan.FromSeconds(result.GetValue(grace)),
                WorkerPollInterval = TimeSpan.FromSeconds(1),
            };
            var done = await new BookieRecovery(ns.Ledgers, new UnderReplicationStore(ns.Store), recovery, NullLogger.Instance).RunAsync(id, decommission, ct);
            if (result.GetValue(options.Json))
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
}
