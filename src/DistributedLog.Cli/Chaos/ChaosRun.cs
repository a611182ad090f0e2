using System.Diagnostics;
using System.Globalization;
using System.Text;
using DistributedLog.Cli.Chaos.Cluster;
using DistributedLog.Cli.Chaos.Faults;
using DistributedLog.Cli.Chaos.Workloads;
using DistributedLog.Client;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Chaos;

/// <summary>What a chaos run ends with: its summary, the checker's findings and the schedule it played.</summary>
internal sealed record ChaosOutcome(ChaosSummary Summary, IReadOnlyList<Violation> Violations, IReadOnlyList<Fault> Schedule);

/// <summary>
/// One chaos run: start the cluster, run the workloads while playing the seed's fault schedule, stop the faults, wait for
/// the cluster to heal (a write succeeds on every log), stop the workloads, restart every process once more, seal and
/// read every log from the start, and check the history.
/// </summary>
internal sealed class ChaosRun(int seed, TimeSpan duration, string workDirectory, TextWriter progressOutput)
{
    public const int BookieCount = 5;
    public const int ProxyCount = 2;

    private static readonly string[] ProxyLogs = ["p0", "p1"];
    private static readonly string[] FatLogs = ["f0", "f1"];
    private static readonly TimeSpan HealDeadline = TimeSpan.FromMinutes(3);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private History _history = new();
    private int _workloadErrors;

    private void Progress(string text)
    {
        lock (progressOutput)
        {
            progressOutput.WriteLine(string.Create(CultureInfo.InvariantCulture, $"chaos {_clock.Elapsed.TotalSeconds,7:F1}s {text}"));
            progressOutput.Flush();
        }
    }

    public async Task<ChaosOutcome> RunAsync(CancellationToken cancellationToken)
    {
        Progress($"seed {seed}, {duration.TotalSeconds:F0} s, work directory {workDirectory}");
        await using var cluster = await ChaosCluster.StartAsync(BookieCount, ProxyCount, workDirectory, Progress, cancellationToken);
        var skipped = new List<string>();
        if (cluster.Disks.Count == 0)
        {
            skipped.Add("DiskFull (needs root to mount a tmpfs)");
        }

        if (cluster.Firewall is null)
        {
            skipped.Add("Partition* (needs root and nft)");
        }

        await using var space = await DistributedLogNamespace.OpenAsync(cluster.MetadataUri, cancellationToken: cancellationToken);
        foreach (string log in ProxyLogs.Concat(FatLogs))
        {
            try
            {
                await space.CreateLogAsync(log, cancellationToken);
            }
            catch (LogExistsException)
            {
            }
        }

        await using var client = DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = cluster.ProxyEndpoints,
            RetryBudget = TimeSpan.FromSeconds(20),
            CallTimeout = TimeSpan.FromSeconds(15),
        });
        // The history's clock (and the fault schedule's) starts with the workloads.
        _history = new History();
        var context = new WorkloadContext(_history, cluster.MetadataUri, cluster.ProxyEndpoints, client, space, workDirectory, Progress);
        var writers = new Dictionary<string, AppendProcessWriter>(StringComparer.Ordinal)
        {
            ["writer-0"] = new AppendProcessWriter(context, "writer-0", FatLogs[0], 8),
            ["writer-1"] = new AppendProcessWriter(context, "writer-1", FatLogs[1], 8),
        };
        try
        {
            var targets = new FaultTargets([.. cluster.Bookies.Select(b => b.Name)], [.. cluster.Proxies.Select(p => p.Name)],
                [.. cluster.EtcdMembers.Select(e => e.Name)], [.. writers.Keys], [.. cluster.Disks.Keys]);
            var schedule = FaultSchedule.Create(seed, duration, targets);
            Progress($"fault schedule ({schedule.Count} faults):\n{string.Join("\n", schedule.Select(f => "    " + f))}");
            var injector = new FaultInjector(cluster, writers, _history, Progress);
            var (summary, violations) = await RunWorkloadsAsync(cluster, context, writers, schedule, injector, skipped, cancellationToken);
            return new ChaosOutcome(summary, violations, schedule);
        }
        finally
        {
            foreach (var writer in writers.Values)
            {
                await writer.DisposeAsync();
            }
        }
    }

    private async Task<(ChaosSummary, IReadOnlyList<Violation>)> RunWorkloadsAsync(ChaosCluster cluster, WorkloadContext context,
        Dictionary<string, AppendProcessWriter> writers, IReadOnlyList<Fault> schedule, FaultInjector injector, List<string> skipped,
        CancellationToken cancellationToken)
    {
        using var stopWorkloads = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var stopFaults = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stop = stopWorkloads.Token;
        var subscriber = new Subscriber(context, "sub-0", ProxyLogs[0], seed);
        long? LastAckedTxId(string log) => _history.Events.LastOrDefault(e => e.Log == log && e.Kind == EventKind.Ok)?.TxId;
        async Task Later(Func<Task> start)
        {
            try
            {
                await Task.Delay(duration * 0.3, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await start();
        }

        var workloads = new List<Task>
        {
            Guard("ps0", () => new ProxyStreamWriter(context, "ps0", ProxyLogs[0], 10).RunAsync(stop)),
            Guard("pu0", () => new ProxyUnaryWriter(context, "pu0", ProxyLogs[0], 4).RunAsync(stop)),
            Guard("ps1", () => new ProxyStreamWriter(context, "ps1", ProxyLogs[1], 10).RunAsync(stop)),
            Guard("pu1", () => new ProxyUnaryWriter(context, "pu1", ProxyLogs[1], 4).RunAsync(stop)),
            Guard("writer-0", () => writers["writer-0"].RunAsync(stop)),
            Guard("writer-1", () => writers["writer-1"].RunAsync(stop)),
            Guard("proxy-tail-p0", () => new ProxyTailReader(context, "proxy-tail-p0", ProxyLogs[0]).RunAsync(stop)),
            Guard("proxy-tail-f0", () => new ProxyTailReader(context, "proxy-tail-f0", FatLogs[0]).RunAsync(stop)),
            Guard("proxy-txid-p1", () => Later(() => new ProxyTailReader(context, "proxy-txid-p1", ProxyLogs[1], () => LastAckedTxId(ProxyLogs[1])).RunAsync(stop))),
            Guard("core-dlsn-p1", () => new CoreTailReader(context, "core-dlsn-p1", ProxyLogs[1]).RunAsync(stop)),
            Guard("core-dlsn-f1", () => new CoreTailReader(context, "core-dlsn-f1", FatLogs[1]).RunAsync(stop)),
            Guard("core-txid-f0", () => Later(() => new CoreTailReader(context, "core-txid-f0", FatLogs[0], () => LastAckedTxId(FatLogs[0])).RunAsync(stop))),
            Guard("sub-0", () => subscriber.RunAsync(stop)),
        };

        // Faults.
        var faults = Task.Run(() => injector.RunAsync(schedule, stopFaults.Token));
        try
        {
            await Task.Delay(duration, cancellationToken);
        }
        finally
        {
            await stopFaults.CancelAsync();
            await faults;
        }

        Progress($"faults stopped ({injector.Injected.Values.Sum()} injected); healing");

        // Heal: a write succeeds on every log within a bounded time.
        var healClock = Stopwatch.StartNew();
        using var healTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        healTimeout.CancelAfter(HealDeadline);
        var healed = await Task.WhenAll(ProxyLogs.Select(log => HealThroughProxyAsync(context, log, healTimeout.Token))
            .Concat(FatLogs.Select(log => LogSealer.WriteAsync(context, "healer", log, close: false, healTimeout.Token))));
        double? healSeconds = healed.All(h => h) ? healClock.Elapsed.TotalSeconds : null;
        Progress(healSeconds is { } s ? $"healed: a write succeeded on every log within {s:F1} s" : $"NOT healed within {HealDeadline.TotalSeconds} s");

        // Stop the workloads (writers finish what is in flight).
        await stopWorkloads.CancelAsync();
        try
        {
            await Task.WhenAll(workloads).WaitAsync(TimeSpan.FromMinutes(3), cancellationToken);
        }
        catch (TimeoutException)
        {
            Progress("some workloads did not stop within 3 minutes");
        }

        Progress("workloads stopped; restarting every process once more");
        await cluster.RestartEveryProcessAsync(Progress, cancellationToken);

        // Seal every log (fence + one write + close: every acknowledged record becomes visible), then one more subscriber resume.
        using var sealTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        sealTimeout.CancelAfter(HealDeadline);
        await Task.WhenAll(ProxyLogs.Concat(FatLogs).Select(log => LogSealer.WriteAsync(context, "sealer", log, close: true, sealTimeout.Token)));
        for (int attempt = 0; attempt < 10 && !await subscriber.RunSessionAsync(int.MaxValue, TimeSpan.FromSeconds(3), cancellationToken); attempt++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        Progress("reading every log from the start");
        int records = 0;
        foreach (string log in ProxyLogs.Concat(FatLogs))
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var core = await FinalReader.ReadCoreAsync(context, log, cancellationToken);
                if (core.Complete)
                {
                    records += core.Records.Count;
                    break;
                }
            }

            for (int attempt = 0; attempt < 3; attempt++)
            {
                if ((await FinalReader.ReadProxyAsync(context, log, cancellationToken)).Complete)
                {
                    break;
                }
            }
        }

        var events = _history.Events;
        var sessions = _history.Sessions;
        var violations = HistoryChecker.Check(events, sessions);
        if (context.HungWrites > 0)
        {
            violations = [.. violations, new Violation(ViolationKind.Hung, "*", $"{context.HungWrites} write(s) had no outcome within " +
                $"{WorkloadContext.HangThreshold.TotalSeconds} s (hung)", [.. events.Where(e => e.Detail?.Contains("hung", StringComparison.Ordinal) == true).Take(5).Select(e => e.ToString())])];
        }

        await WriteHistoryAsync(events, sessions, violations);
        var summary = new ChaosSummary
        {
            Seed = seed,
            DurationSeconds = duration.TotalSeconds,
            Operations = events.Count(e => e.Kind == EventKind.Invoke),
            Acknowledged = events.Count(e => e.Kind == EventKind.Ok),
            Failed = events.Count(e => e.Kind == EventKind.Fail),
            Unknown = events.Count(e => e.Kind == EventKind.Unknown),
            Faults = injector.Injected.Values.Sum(),
            FaultsByKind = injector.Injected.ToDictionary(),
            SkippedFaultKinds = skipped,
            Violations = violations.Count,
            ViolationsByKind = violations.GroupBy(v => v.Kind).ToDictionary(g => g.Key, g => g.Count()),
            HealSeconds = healSeconds,
            HungWrites = context.HungWrites,
            WorkloadErrors = _workloadErrors,
            ReaderSessions = sessions.Count,
            Records = records,
        };
        if (healSeconds is null)
        {
            summary = summary with { Violations = summary.Violations + 1, Error = $"the cluster did not heal within {HealDeadline.TotalSeconds} s" };
        }

        return (summary, violations);
    }

    /// <summary>
    /// Runs a workload so that whatever it throws is reported (a line with the exception) and counted, never ending the
    /// run: a workload's failure is a finding about the client under test, not a reason to skip the check.
    /// </summary>
    private Task Guard(string name, Func<Task> workload) => Task.Run(async () =>
    {
        try
        {
            await workload();
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _workloadErrors);
            Progress($"workload {name} ended with {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
    });

    private async Task<bool> HealThroughProxyAsync(WorkloadContext context, string log, CancellationToken cancellationToken)
    {
        for (int attempt = 1; !cancellationToken.IsCancellationRequested; attempt++)
        {
            string payload = $"healer-{log}-{attempt}";
            _history.Invoke("healer", log, payload);
            await context.RecordAsync("healer", log, payload, context.Client.WriteAsync(log, Encoding.UTF8.GetBytes(payload), cancellationToken));
            if (_history.Events.Any(e => e.Payload == payload && e.Kind == EventKind.Ok))
            {
                return true;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>Writes the whole history and the violations to <c>history.txt</c> in the work directory.</summary>
    private async Task WriteHistoryAsync(IReadOnlyList<HistoryEvent> events, IReadOnlyList<ReaderSession> sessions, IReadOnlyList<Violation> violations)
    {
        await using var file = new StreamWriter(Path.Combine(workDirectory, "history.txt"));
        await file.WriteLineAsync($"seed {seed}; {violations.Count} violation(s)");
        foreach (var v in violations)
        {
            await file.WriteLineAsync(v.ToString());
        }

        await file.WriteLineAsync("--- writes");
        foreach (var e in events)
        {
            await file.WriteLineAsync(e.ToString());
        }

        await file.WriteLineAsync("--- reader sessions");
        foreach (var s in sessions)
        {
            var records = s.Records;
            await file.WriteLineAsync($"{s}: {records.Count} records" + (records.Count > 0 ? $" from {records[0]} to {records[^1]}" : ""));
        }
    }
}
