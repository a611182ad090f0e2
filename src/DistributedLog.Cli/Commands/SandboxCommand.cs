using System.CommandLine;
using DistributedLog.Cli.Sandbox;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// <c>dlog sandbox</c>: the embedded default — the embedded metadata store, N bookies and a write proxy in one process.
/// Prints one line containing <c>ready</c> when it serves; stops cleanly on SIGINT/SIGTERM.
/// </summary>
internal static class SandboxCommand
{
    public static Command Create()
    {
        var data = new Option<DirectoryInfo>("--data") { Description = "Data directory (metadata, bookies).", DefaultValueFactory = _ => new DirectoryInfo("dlog-data") };
        var port = new Option<int>("--port") { Description = "Port of the write proxy.", DefaultValueFactory = _ => 7000 };
        var bookies = new Option<int>("--bookies") { Description = "Number of bookies.", DefaultValueFactory = _ => 3 };
        var json = ClientOptions.Json();
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level.", DefaultValueFactory = _ => LogLevel.Warning };
        var minFree = new Option<long>("--min-free-mb")
        {
            Description = "The bookies turn read-only below this much free disk (MiB); 0 turns the check off (a full disk still makes them read-only until space returns).",
            DefaultValueFactory = _ => 256,
        };
        var retention = new RetentionFlags();
        var command = new Command("sandbox", "Run everything in one process (embedded metadata, bookies, a write proxy) until interrupted.")
        {
            data, port, bookies, json, logLevel, minFree,
        };
        foreach (var option in retention.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            using var loggerFactory = ServerRun.Logging(result.GetValue(logLevel));
            long minFreeMb = result.GetValue(minFree);
            if (minFreeMb < 0)
            {
                throw new ArgumentException($"--min-free-mb must not be negative (got {minFreeMb}).");
            }

            var (retentionPolicy, retentionCheck) = retention.Parse(result);
            var (stop, sigterm) = ServerRun.StopSignal(cancellationToken);
            using (stop)
            using (sigterm)
            {
                await using var sandbox = await SandboxHost.StartAsync(result.GetValue(data)!.FullName, result.GetValue(port), result.GetValue(bookies), loggerFactory, stop.Token,
                    minFreeMb << 20, retentionPolicy, retentionCheck);
                ServerRun.PrintReady(result.GetValue(json),
                    $"dlog sandbox ready: proxy {sandbox.Proxy.Endpoint}, {sandbox.BookieIds.Count} bookies, metrics {sandbox.Proxy.AdminEndpoint}/metrics, data {sandbox.DataDirectory}",
                    w =>
                    {
                        w.WriteString("endpoint", sandbox.Proxy.Endpoint);
                        w.WriteString("metrics", sandbox.Proxy.AdminEndpoint + "/metrics");
                        w.WriteString("data", sandbox.DataDirectory);
                        w.WriteStartArray("bookies");
                        foreach (string id in sandbox.BookieIds)
                        {
                            w.WriteStringValue(id);
                        }

                        w.WriteEndArray();
                    });
                await ServerRun.WaitAsync(stop.Token);
                Console.WriteLine("dlog sandbox stopping");
            }

            return 0;
        }));
        return command;
    }
}
