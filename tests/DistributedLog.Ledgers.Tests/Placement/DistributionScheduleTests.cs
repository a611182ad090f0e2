using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Tests.Placement;

public class DistributionScheduleTests
{
    [Fact]
    public void Write_sets_stripe_round_robin()
    {
        // E=5, Qw=3: entry 4 goes to positions 4, 0, 1.
        Assert.Equal([4, 0, 1], Enumerable.Range(0, 3).Select(k => DistributionSchedule.BookieIndex(4, k, 5)));
        Assert.True(DistributionSchedule.InWriteSet(4, 0, 5, 3));
        Assert.False(DistributionSchedule.InWriteSet(4, 2, 5, 3));
        for (long e = 0; e < 50; e++)
        {
            for (int b = 0; b < 5; b++)
            {
                bool expected = Enumerable.Range(0, 3).Any(k => DistributionSchedule.BookieIndex(e, k, 5) == b);
                Assert.Equal(expected, DistributionSchedule.InWriteSet(e, b, 5, 3));
            }
        }
    }

    [Theory]
    [InlineData(new[] { true, true, false }, 3, 2, true)]   // E=Qw=3, Qa=2: one unknown per write set is fine
    [InlineData(new[] { true, false, false }, 3, 2, false)] // two unknown: an entry could be on exactly those two
    [InlineData(new[] { true, true, true }, 3, 3, true)]
    [InlineData(new[] { true, true, false }, 3, 3, true)]   // Qa=3: needs only one known per write set
    [InlineData(new[] { false, false, false }, 3, 3, false)]
    public void Quorum_coverage_for_full_write_sets(bool[] known, int writeQuorum, int ackQuorum, bool covered) =>
        Assert.Equal(covered, DistributionSchedule.IsCovered(known, writeQuorum, ackQuorum));

    [Fact]
    public void Quorum_coverage_with_striping_checks_every_write_set()
    {
        // E=4, Qw=2, Qa=2: each write set needs one known bookie. Unknown 0 and 1 leave write set {0,1} uncovered.
        Assert.False(DistributionSchedule.IsCovered([false, false, true, true], 2, 2));
        Assert.True(DistributionSchedule.IsCovered([false, true, false, true], 2, 2));
    }

    [Fact]
    public void Random_placement_never_repeats_a_bookie_and_refuses_too_few()
    {
        var policy = new RandomPlacementPolicy(new Random(7));
        BookieNode[] bookies = [.. new[] { "a:1", "b:1", "c:1", "d:1" }.Select(id => new BookieNode(id, NetworkLocation.Default))];
        for (int i = 0; i < 100; i++)
        {
            var ensemble = policy.ChooseEnsemble(3, 3, bookies);
            Assert.Equal(3, ensemble.Distinct().Count());
            var members = bookies.Where(b => ensemble.Contains(b.Id)).ToArray();
            string replacement = policy.ReplaceBookie(members, 3, members[0].Id, bookies, new HashSet<string>());
            Assert.DoesNotContain(replacement, ensemble);
        }

        var error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(5, 3, bookies));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Throws<DlException>(() => policy.ReplaceBookie(bookies[..3], 3, "a:1", bookies[..3], new HashSet<string>()));
    }
}
