using System.CommandLine;
using System.Text.Json;
using DistributedLog.Cli.Commands;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Admin;

/// <summary>
/// <c>dlog admin log inspect | seal | rename | subscribers | unsubscribe</c>: a log's metadata checked for consistency
/// (DistributedLog's dlck), end of stream, renaming, and its subscribers, through the core library.
/// </summary>
internal static class AdminLogCommands
{
    /// <summary>Exit code of <c>log inspect</c> when it found inconsistencies (1 stays for errors).</summary>
    public const int InconsistentExitCode = 2;

    public static Command Create() => new("log", "Check, seal, rename a log; list and remove its subscribers.")
    {
        Inspect(),
        Seal(),
        Rename(),
        Subscribers(),
        Unsubscribe(),
    };

    private static Command Inspect()
    {
        var options = new AdminOptions();
        var log = ClientOptions.Log();
        var command = options.WithNamespace(options.Command("inspect",
            $"Check a log's metadata (as DistributedLog's dlck): segment sequence, txid and sequence-id continuity, in-progress segments, " +
            $"ledgers that exist and are closed where they should be, truncation states. Prints each inconsistency; exit code {InconsistentExitCode} if any.",
            log));
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var report = await LogInspection.InspectAsync(ns, result.GetValue(log)!, ct);
            if (result.GetValue(options.Json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w => WriteReport(w, report));
            }
            else
            {
                Console.WriteLine($"log {report.Log}: {report.Segments} segments, " +
                    (report.Findings.Count == 0 ? "consistent" : $"{report.Findings.Count} inconsistencies"));
                foreach (var finding in report.Findings)
                {
                    Console.WriteLine($"{finding.Kind}{(finding.Lssn is long lssn ? $" segment {lssn}" : "")}: {finding.Message}");
                }
            }

            return report.Findings.Count == 0 ? 0 : InconsistentExitCode;
        }));
        return command;
    }

    private static Command Seal()
    {
        var options = new AdminOptions();
        var log = ClientOptions.Log();
        var lockTimeout = new Option<double>("--lock-timeout-seconds")
        {
            Description = "How long to wait for the log's writer lock (a proxy or writer that owns the log must let go first).",
            DefaultValueFactory = _ => 0,
        };
        var command = options.WithNamespace(options.Command("seal",
            "Seal a log with end of stream: readers end at its last record and every later write fails. Idempotent.", log, lockTimeout));
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string name = result.GetValue(log)!;
            double timeout = result.GetValue(lockTimeout);
            if (timeout < 0 || double.IsNaN(timeout))
            {
                throw new ArgumentException($"--lock-timeout-seconds must be ≥ 0 (got {timeout}).");
            }

            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var manager = ns.OpenLog(name);
            bool already = await manager.IsEndOfStreamMarkedAsync(ct);
            if (!already)
            {
                await using var writer = await manager.OpenWriterAsync(new Writers.LogWriterOptions { LockTimeout = TimeSpan.FromSeconds(timeout) }, ct);
                await writer.MarkEndOfStreamAsync(ct);
                await writer.CloseAsync(ct);
            }

            options.Report(result, already ? $"{name} was already sealed (end of stream)" : $"sealed {name} (end of stream)", w =>
            {
                w.WriteString("log", name);
                w.WriteBoolean("sealed", true);
                w.WriteBoolean("alreadySealed", already);
            });
            return 0;
        }));
        return command;
    }

    private static Command Rename()
    {
        var options = new AdminOptions();
        var from = new Argument<string>("from") { Description = "The log's current name." };
        var to = new Argument<string>("to") { Description = "Its new name (no log of that name may exist)." };
        var command = options.WithNamespace(options.Command("rename",
            "Rename a log: its record, segments and subscribers move atomically. Refused while a writer owns it.", from, to));
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string source = result.GetValue(from)!;
            string target = result.GetValue(to)!;
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            await ns.RenameLogAsync(source, target, ct);
            options.Report(result, $"renamed {source} to {target}", w =>
            {
                w.WriteString("from", source);
                w.WriteString("to", target);
                w.WriteBoolean("renamed", true);
            });
            return 0;
        }));
        return command;
    }

    private static Command Subscribers()
    {
        var options = new AdminOptions();
        var log = ClientOptions.Log();
        var command = options.WithNamespace(options.Command("subscribers", "List a log's subscribers and their committed positions.", log));
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string name = result.GetValue(log)!;
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            await ns.Metadata.GetLogAsync(name, ct);
            var positions = await ns.OpenLog(name).Subscriptions.GetPositionsAsync(ct);
            var ordered = positions.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
            if (result.GetValue(options.Json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w =>
                {
                    w.WriteString("log", name);
                    w.WriteStartArray("subscribers");
                    foreach (var (id, position) in ordered)
                    {
                        w.WriteStartObject();
                        w.WriteString("id", id);
                        w.WriteString("position", position.ToString());
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                return 0;
            }

            if (ordered.Count == 0)
            {
                Console.WriteLine($"log {name} has no subscribers");
            }

            foreach (var (id, position) in ordered)
            {
                Console.WriteLine($"{id} {position}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Unsubscribe()
    {
        var options = new AdminOptions();
        var log = ClientOptions.Log();
        var subscriber = new Argument<string>("id") { Description = "The subscriber id." };
        var command = options.WithNamespace(options.Command("unsubscribe", "Remove a subscriber of a log (its committed position is forgotten).", log, subscriber));
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string name = result.GetValue(log)!;
            string id = result.GetValue(subscriber)!;
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            await ns.Metadata.GetLogAsync(name, ct);
            if (!await ns.OpenLog(name).Subscriptions.DeleteAsync(id, ct))
            {
                throw new DlException(StatusCode.BadRequest, $"Log '{name}' has no subscriber '{id}'; nothing was removed.");
            }

            options.Report(result, $"removed subscriber {id} of {name}", w =>
            {
                w.WriteString("log", name);
                w.WriteString("id", id);
                w.WriteBoolean("removed", true);
            });
            return 0;
        }));
        return command;
    }

    private static void WriteReport(Utf8JsonWriter w, LogInspectionReport report)
    {
        w.WriteString("log", report.Log);
        w.WriteNumber("segments", report.Segments);
        w.WriteBoolean("consistent", report.Findings.Count == 0);
        w.WriteStartArray("findings");
        foreach (var finding in report.Findings)
        {
            w.WriteStartObject();
            w.WriteString("kind", finding.Kind);
            if (finding.Lssn is long lssn)
            {
                w.WriteNumber("lssn", lssn);
            }
            else
            {
                w.WriteNull("lssn");
            }

            if (finding.LedgerId is long ledgerId)
            {
                w.WriteNumber("ledgerId", ledgerId);
            }
            else
            {
                w.WriteNull("ledgerId");
            }

            w.WriteString("message", finding.Message);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}
