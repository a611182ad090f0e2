using System.CommandLine;
using System.Globalization;
using DistributedLog.Cli.Chaos;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// <c>dlog chaos --seed S --duration SECONDS [--work DIR] [--json]</c>: a seeded fault-injection run against a real
/// multi-process cluster on loopback, checked for lost, duplicated, reordered or phantom records and reader disagreement.
/// Exit 0 only when the checker finds nothing.
/// </summary>
internal static class ChaosCommand
{
    public static Command Create()
    {
        var seed = new Option<int?>("--seed") { Description = "Seed of the fault schedule (default: a random one, printed)." };
        var duration = new Option<double>("--duration") { Description = "Seconds of faults and workload before healing and checking.", DefaultValueFactory = _ => 60 };
        var work = new Option<DirectoryInfo?>("--work") { Description = "Keep every process's data and log here (default: a temporary directory, deleted when the run passes)." };
        var json = ClientOptions.Json();
        var command = new Command("chaos", "Run a seeded fault-injection test against a local multi-process cluster (etcd ×3, bookies, proxies) and check the history.")
        {
            seed, duration, work, json,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            double seconds = result.GetValue(duration);
            if (!(seconds >= 5) || !double.IsFinite(seconds))
            {
                throw new ArgumentException($"--duration must be at least 5 seconds (got {seconds}).");
            }

            int chosen = result.GetValue(seed) ?? Random.Shared.Next();
            bool keep = result.GetValue(work) is not null;
            string directory = result.GetValue(work)?.FullName ?? Path.Combine(Path.GetTempPath(), $"dlchaos-{chosen}-{Environment.ProcessId}");
            Directory.CreateDirectory(directory);
            bool asJson = result.GetValue(json);

            var (stop, sigterm) = ServerRun.StopSignal(cancellationToken);
            ChaosOutcome? outcome = null;
            string? error = null;
            using (stop)
            using (sigterm)
            {
                try
                {
                    outcome = await new ChaosRun(chosen, TimeSpan.FromSeconds(seconds), directory, Console.Error).RunAsync(stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    error = "interrupted";
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The run itself broke (the cluster did not start, a tool is missing): reported in the summary, exit 1.
                    error = $"{e.GetType().Name}: {e.Message}";
                }
            }

            var summary = outcome?.Summary ?? new ChaosSummary { Seed = chosen, DurationSeconds = seconds, Error = error };
            bool passed = error is null && summary.Violations == 0 && summary.Error is null;
            if (!passed || keep)
            {
                summary = summary with { WorkDirectory = directory };
            }

            if (outcome is { Violations.Count: > 0 })
            {
                var report = asJson ? Console.Error : Console.Out;
                await report.WriteLineAsync($"CHAOS VIOLATIONS: {outcome.Violations.Count} (seed {chosen}; rerun: dlog chaos --seed {chosen} --duration " +
                    $"{seconds.ToString(CultureInfo.InvariantCulture)} --work DIR)");
                await report.WriteLineAsync("fault schedule:");
                foreach (var fault in outcome.Schedule)
                {
                    await report.WriteLineAsync("    " + fault);
                }

                await report.WriteLineAsync("violations (each with the shortest history excerpt that shows it):");
                foreach (var violation in outcome.Violations)
                {
                    await report.WriteLineAsync("  " + violation);
                }

                await report.WriteLineAsync($"full history: {Path.Combine(directory, "history.txt")}");
            }

            if (asJson)
            {
                using var stdout = Console.OpenStandardOutput();
                summary.WriteJson(stdout);
            }
            else
            {
                Console.WriteLine(summary.ToString());
            }

            if (passed && !keep)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }

            return passed ? 0 : 1;
        }));
        return command;
    }
}
