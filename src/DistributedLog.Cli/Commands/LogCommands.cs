using System.CommandLine;
using DistributedLog.Client;

namespace DistributedLog.Cli.Commands;

/// <summary><c>dlog create | delete | list | show | truncate</c>: managing logs through a proxy.</summary>
internal static class LogCommands
{
    public static Command Create()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var command = new Command("create", "Create a log.") { log, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            string name = result.GetValue(log)!;
            await client.CreateLogAsync(name, ct);
            Report(result.GetValue(json), $"created {name}", w =>
            {
                w.WriteString("log", name);
                w.WriteBoolean("created", true);
            });
            return 0;
        }));
        return command;
    }

    public static Command Delete()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var command = new Command("delete", "Delete a log and all its records.") { log, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            string name = result.GetValue(log)!;
            await client.DeleteLogAsync(name, ct);
            Report(result.GetValue(json), $"deleted {name}", w =>
            {
                w.WriteString("log", name);
                w.WriteBoolean("deleted", true);
            });
            return 0;
        }));
        return command;
    }

    public static Command List()
    {
        var (endpoint, json) = (ClientOptions.Endpoint(), ClientOptions.Json());
        var prefix = new Option<string>("--prefix") { Description = "Only logs whose names start with this.", DefaultValueFactory = _ => "" };
        var command = new Command("list", "List the logs.") { prefix, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            var logs = await client.ListLogsAsync(result.GetValue(prefix)!, ct);
            if (result.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w =>
                {
                    w.WriteStartArray("logs");
                    foreach (string name in logs)
                    {
                        w.WriteStringValue(name);
                    }

                    w.WriteEndArray();
                });
            }
            else
            {
                foreach (string name in logs)
                {
                    Console.WriteLine(name);
                }
            }

            return 0;
        }));
        return command;
    }

    public static Command Show()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var command = new Command("show", "Show a log: segments, first and last DLSN, last txid, record count.") { log, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            var d = await client.DescribeLogAsync(result.GetValue(log)!, ct);
            if (result.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w => WriteDescription(w, d));
                return 0;
            }

            Console.WriteLine($"log           {d.Name}");
            Console.WriteLine($"records       {d.RecordCount}");
            Console.WriteLine($"first DLSN    {d.FirstDlsn?.ToString() ?? "-"}");
            Console.WriteLine($"last DLSN     {d.LastDlsn?.ToString() ?? "-"}");
            Console.WriteLine($"last txid     {(d.LastTxId < 0 ? "-" : d.LastTxId)}");
            Console.WriteLine($"end of stream {(d.EndOfStream ? "yes" : "no")}");
            Console.WriteLine($"owner         {d.Owner ?? "-"}");
            Console.WriteLine($"segments      {d.Segments.Count}");
            foreach (var s in d.Segments)
            {
                Console.WriteLine($"  #{s.Lssn,-6} ledger {s.LedgerId,-8} {(s.InProgress ? "in progress" : "completed"),-11} txids {s.FirstTxId}..{(s.LastTxId < 0 ? "" : s.LastTxId)} " +
                    $"records {s.RecordCount} {(s.Truncation == "Active" ? "" : s.Truncation.ToLowerInvariant())}");
            }

            return 0;
        }));
        return command;
    }

    public static Command Truncate()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var before = new Option<string>("--before") { Description = "Truncate the records before this DLSN (lssn:entry:slot).", Required = true };
        var command = new Command("truncate", "Truncate a log: records before a DLSN are removed (whole segments are deleted).") { log, before, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            var dlsn = ClientOptions.ParseDlsn(result.GetValue(before)!, "--before");
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            string name = result.GetValue(log)!;
            bool truncated = await client.TruncateAsync(name, dlsn, ct);
            Report(result.GetValue(json), truncated ? $"truncated {name} before {dlsn}" : $"nothing to truncate in {name} before {dlsn}", w =>
            {
                w.WriteString("log", name);
                w.WriteString("before", dlsn.ToString());
                w.WriteBoolean("truncated", truncated);
            });
            return 0;
        }));
        return command;
    }

    private static void WriteDescription(System.Text.Json.Utf8JsonWriter w, LogDescription d)
    {
        w.WriteString("name", d.Name);
        w.WriteNumber("recordCount", d.RecordCount);
        w.WriteNumber("lastTxId", d.LastTxId);
        WriteDlsn(w, "firstDlsn", d.FirstDlsn);
        WriteDlsn(w, "lastDlsn", d.LastDlsn);
        w.WriteBoolean("endOfStream", d.EndOfStream);
        if (d.Owner is null)
        {
            w.WriteNull("owner");
        }
        else
        {
            w.WriteString("owner", d.Owner);
        }

        w.WriteStartArray("segments");
        foreach (var s in d.Segments)
        {
            w.WriteStartObject();
            w.WriteNumber("lssn", s.Lssn);
            w.WriteNumber("ledgerId", s.LedgerId);
            w.WriteBoolean("inProgress", s.InProgress);
            w.WriteNumber("firstTxId", s.FirstTxId);
            w.WriteNumber("lastTxId", s.LastTxId);
            w.WriteNumber("recordCount", s.RecordCount);
            w.WriteNumber("startSequenceId", s.StartSequenceId);
            w.WriteString("truncation", s.Truncation);
            w.WriteString("createdAt", s.CreatedAt);
            if (s.CompletedAt is { } completed)
            {
                w.WriteString("completedAt", completed);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteDlsn(System.Text.Json.Utf8JsonWriter w, string name, Protocol.Records.Dlsn? dlsn)
    {
        if (dlsn is { } value)
        {
            w.WriteString(name, value.ToString());
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void Report(bool json, string text, Action<System.Text.Json.Utf8JsonWriter> write)
    {
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            ClientOptions.WriteJsonLine(stdout, write);
        }
        else
        {
            Console.WriteLine(text);
        }
    }
}
