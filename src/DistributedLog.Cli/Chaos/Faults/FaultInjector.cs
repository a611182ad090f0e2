using System.Collections.Concurrent;
using System.Globalization;
using DistributedLog.Cli.Chaos.Cluster;
using DistributedLog.Cli.Chaos.Workloads;

namespace DistributedLog.Cli.Chaos.Faults;

/// <summary>
/// Plays a <see cref="FaultSchedule"/> against the cluster: each fault is injected at its time and healed when it ends
/// (or when the injector stops: every injected fault is healed before <see cref="RunAsync"/> returns). One progress line
/// per fault injected and per fault healed.
/// </summary>
internal sealed class FaultInjector(ChaosCluster cluster, IReadOnlyDictionary<string, AppendProcessWriter> writers, History history,
    Action<string> progress)
{
    private readonly ConcurrentDictionary<FaultKind, int> _injected = new();
    private int _skipped;

    /// <summary>Faults injected, by kind.</summary>
    public IReadOnlyDictionary<FaultKind, int> Injected => _injected;

    /// <summary>Faults that could not be injected here (e.g. partitions without nft).</summary>
    public int Skipped => _skipped;

    public async Task RunAsync(IReadOnlyList<Fault> schedule, CancellationToken stop)
    {
        await Task.WhenAll(schedule.Select(f => PlayAsync(f, stop)));
    }

    private async Task PlayAsync(Fault fault, CancellationToken stop)
    {
        try
        {
            var wait = fault.At - history.Now;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, stop);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        bool injected;
        try
        {
            injected = await InjectAsync(fault);
        }
        catch (Exception e)
        {
            // A fault that cannot be injected (a tool missing, a process already gone) is reported and skipped, not fatal.
            progress($"fault #{fault.Id} {fault.Kind} on {string.Join(",", fault.Targets)} could not be injected: {e.Message}");
            injected = false;
        }

        if (!injected)
        {
            Interlocked.Increment(ref _skipped);
            return;
        }

        _injected.AddOrUpdate(fault.Kind, 1, (_, n) => n + 1);
        progress(string.Create(CultureInfo.InvariantCulture, $"inject #{fault.Id} {fault.Kind} {string.Join(",", fault.Targets)} for {fault.Duration.TotalSeconds:F1}s"));
        try
        {
            var remaining = fault.Until - history.Now;
            if (remaining > TimeSpan.Zero)
            {
                await Task.Delay(remaining, stop);
            }
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            await HealAsync(fault);
            progress($"heal   #{fault.Id} {fault.Kind} {string.Join(",", fault.Targets)}");
        }
        catch (Exception e)
        {
            progress($"heal   #{fault.Id} {fault.Kind} {string.Join(",", fault.Targets)} FAILED: {e.Message}");
        }
    }

    private async Task<bool> InjectAsync(Fault fault)
    {
        foreach (string target in fault.Targets)
        {
            if (cluster.All.Any(p => p.Name == target))
            {
                cluster.Process(target).Note($"fault #{fault.Id} {fault.Kind} injected");
            }
        }

        switch (fault.Kind)
        {
            case FaultKind.KillBookie or FaultKind.KillProxy or FaultKind.KillEtcd:
                await cluster.Process(fault.Targets[0]).KillAsync();
                return true;
            case FaultKind.PauseBookie or FaultKind.PauseProxy or FaultKind.PauseEtcd or FaultKind.BookieMajorityPause:
                bool any = false;
                foreach (string target in fault.Targets)
                {
                    any |= cluster.Process(target).Pause();
                }

                return any;
            case FaultKind.PartitionBookie or FaultKind.PartitionProxy or FaultKind.PartitionEtcd:
                if (cluster.Firewall is null)
                {
                    return false;
                }

                await cluster.Firewall.DropAsync(Chain(fault), cluster.Process(fault.Targets[0]).Ports);
                return true;
            case FaultKind.DiskFull:
                if (!cluster.Disks.TryGetValue(fault.Targets[0], out var disk))
                {
                    return false;
                }

                long bytes = await disk.FillAsync();
                cluster.Process(fault.Targets[0]).Note($"journal disk filled with {bytes} bytes of ballast");
                return true;
            case FaultKind.DiskError:
                await File.WriteAllTextAsync(cluster.FaultFile(fault.Targets[0]), $"fault #{fault.Id}\n");
                return true;
            case FaultKind.TornJournal:
                var bookie = cluster.Process(fault.Targets[0]);
                await bookie.KillAsync();
                try
                {
                    bookie.Note($"journal tail torn: {await JournalTail.TearAsync(cluster.JournalDirectory(bookie.Name), fault.Variant)}");
                }
                catch (IOException e)
                {
                    // The bookie is down either way: the fault counts (as a kill) and its heal restarts it.
                    bookie.Note($"journal tail could not be torn: {e.Message}");
                }

                return true;
            case FaultKind.KillWriter:
                writers[fault.Targets[0]].Kill();
                return true;
            case FaultKind.TakeoverWriter:
                writers[fault.Targets[0]].Takeover();
                return true;
            default:
                return false;
        }
    }

    private async Task HealAsync(Fault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.KillBookie or FaultKind.KillProxy or FaultKind.KillEtcd or FaultKind.DiskError or FaultKind.TornJournal:
                if (fault.Kind == FaultKind.DiskError)
                {
                    File.Delete(cluster.FaultFile(fault.Targets[0]));
                }

                using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
                {
                    await ChaosCluster.RestartAsync(cluster.Process(fault.Targets[0]), progress, timeout.Token);
                }

                break;
            case FaultKind.PauseBookie or FaultKind.PauseProxy or FaultKind.PauseEtcd or FaultKind.BookieMajorityPause:
                foreach (string target in fault.Targets)
                {
                    cluster.Process(target).Resume();
                }

                break;
            case FaultKind.PartitionBookie or FaultKind.PartitionProxy or FaultKind.PartitionEtcd:
                await cluster.Firewall!.HealAsync(Chain(fault));
                break;
            case FaultKind.DiskFull:
                cluster.Disks[fault.Targets[0]].Free();
                break;
            case FaultKind.KillWriter:
                writers[fault.Targets[0]].Restart();
                break;
        }

        foreach (string target in fault.Targets)
        {
            if (cluster.All.Any(p => p.Name == target))
            {
                cluster.Process(target).Note($"fault #{fault.Id} {fault.Kind} healed");
            }
        }
    }

    private static string Chain(Fault fault) => $"f{fault.Id}";
}
