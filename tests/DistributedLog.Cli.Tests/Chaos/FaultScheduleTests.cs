using DistributedLog.Cli.Chaos.Faults;

namespace DistributedLog.Cli.Tests.Chaos;

/// <summary>The fault schedule comes only from the seed, and keeps its limits on concurrent faults.</summary>
public sealed class FaultScheduleTests
{
    private static readonly FaultTargets Targets = new(
        ["bookie-0", "bookie-1", "bookie-2", "bookie-3", "bookie-4"], ["proxy-0", "proxy-1"], ["etcd-0", "etcd-1", "etcd-2"],
        ["writer-0", "writer-1"], ["bookie-0"]);

    [Fact]
    public void The_same_seed_gives_the_same_schedule_and_another_seed_another()
    {
        var a = FaultSchedule.Create(42, TimeSpan.FromSeconds(600), Targets);
        var b = FaultSchedule.Create(42, TimeSpan.FromSeconds(600), Targets);
        var c = FaultSchedule.Create(43, TimeSpan.FromSeconds(600), Targets);
        Assert.Equal(a.Select(f => f.ToString()), b.Select(f => f.ToString()));
        Assert.NotEqual(a.Select(f => f.ToString()), c.Select(f => f.ToString()));
    }

    [Theory]
    [InlineData(1, 45)]
    [InlineData(2, 600)]
    [InlineData(3, 1800)]
    public void Faults_end_within_the_run_and_at_most_one_bookie_proxy_and_etcd_member_is_faulted_at_once(int seed, int seconds)
    {
        var schedule = FaultSchedule.Create(seed, TimeSpan.FromSeconds(seconds), Targets);
        Assert.NotEmpty(schedule);
        Assert.All(schedule, f => Assert.True(f.At >= TimeSpan.Zero && f.Until <= TimeSpan.FromSeconds(seconds), f.ToString()));
        foreach (var fault in schedule)
        {
            var overlapping = schedule.Where(o => o != fault && o.At < fault.Until && fault.At < o.Until).ToList();
            foreach (var group in new[] { Targets.Bookies, Targets.Proxies, Targets.EtcdMembers })
            {
                var mine = fault.Targets.Where(group.Contains).ToList();
                if (mine.Count == 0 || fault.Kind == FaultKind.BookieMajorityPause)
                {
                    continue;
                }

                Assert.Single(mine);
                var others = overlapping.SelectMany(o => o.Targets).Where(group.Contains).ToList();
                Assert.True(others.Count == 0, $"{fault} overlaps faults on {string.Join(",", others)}");
            }
        }

        if (seconds >= 600)
        {
            // Long runs draw every kind.
            Assert.Equal(Enum.GetValues<FaultKind>().Order(), schedule.Select(f => f.Kind).Distinct().Order());
        }
    }
}
