using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Placement;

/// <summary>The rack- and region-aware placement policy over many random registries (seeded, so failures repeat).</summary>
public sealed class RackAwarePlacementPolicyTests(ITestOutputHelper output)
{
    private static NetworkLocation At(string path) => NetworkLocation.Parse(path);

    /// <summary>Bookies named <c>rack-n</c> in the given racks (<c>/region/rack</c> → count).</summary>
    private static BookieNode[] Registry(params (string Rack, int Count)[] racks) =>
        [.. racks.SelectMany(r => Enumerable.Range(1, r.Count).Select(i => new BookieNode($"{r.Rack.Replace('/', '_')}-{i}:3181", At(r.Rack))))];

    private static BookieNode[] Nodes(IEnumerable<string> ids, BookieNode[] registry) => [.. ids.Select(id => registry.Single(b => b.Id == id))];

    /// <summary>A random registry: 1–3 regions of 1–3 racks of 1–4 bookies.</summary>
    private static BookieNode[] RandomRegistry(Random random)
    {
        var racks = new List<(string, int)>();
        int regions = random.Next(1, 4);
        for (int g = 0; g < regions; g++)
        {
            int count = random.Next(1, 4);
            for (int r = 0; r < count; r++)
            {
                racks.Add(($"/region{g}/rack{r}", random.Next(1, 5)));
            }
        }

        return Registry([.. racks]);
    }

    /// <summary>
    /// The best spread any arrangement of E of these bookies can reach, by exhaustive search over rack sequences (the
    /// spread depends only on each position's rack).
    /// </summary>
    private static WriteSetSpread Optimum(BookieNode[] registry, int ensembleSize, int writeQuorumSize)
    {
        var racks = registry.GroupBy(b => b.Location).Select(g => (Location: g.Key, Count: g.Count())).ToArray();
        var left = racks.Select(r => r.Count).ToArray();
        var sequence = new BookieNode[ensembleSize];
        WriteSetSpread? best = null;
        void Fill(int position)
        {
            if (position == ensembleSize)
            {
                var spread = WriteSetSpread.Of(sequence, writeQuorumSize);
                if (best is null || spread.CompareTo(best.Value) > 0)
                {
                    best = spread;
                }

                return;
            }

            for (int r = 0; r < racks.Length; r++)
            {
                if (left[r] > 0)
                {
                    left[r]--;
                    sequence[position] = new BookieNode("x", racks[r].Location);
                    Fill(position + 1);
                    left[r]++;
                }
            }
        }

        Fill(0);
        return best!.Value;
    }

    [Fact]
    public void Every_write_set_spreads_as_far_as_any_arrangement_can_over_many_random_registries()
    {
        var random = new Random(20261208);
        int cases = 0, fullySpread = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            var registry = RandomRegistry(random);
            int racks = registry.Select(b => b.Location).Distinct().Count();
            if (racks > 5)
            {
                continue; // keeps the exhaustive search small
            }

            int ensembleSize = random.Next(1, Math.Min(registry.Length, 6) + 1);
            int writeQuorumSize = random.Next(1, ensembleSize + 1);
            var policy = new RackAwarePlacementPolicy(random: new Random(trial));
            var ensemble = policy.ChooseEnsemble(ensembleSize, writeQuorumSize, registry);

            Assert.Equal(ensembleSize, ensemble.Distinct().Count());
            Assert.All(ensemble, id => Assert.Contains(registry, b => b.Id == id));
            var spread = WriteSetSpread.Of(Nodes(ensemble, registry), writeQuorumSize);
            var optimum = Optimum(registry, ensembleSize, writeQuorumSize);
            Assert.True(spread.MinRegions == optimum.MinRegions && spread.MinRacks == optimum.MinRacks,
                $"E={ensembleSize} Qw={writeQuorumSize} over [{string.Join(", ", registry.Select(b => b.Location.Path))}]: chose " +
                $"[{string.Join(", ", Nodes(ensemble, registry).Select(b => b.Location.Path))}] = {spread}, but {optimum} is possible");

            // One write set, or as many racks as positions: every write set spans min(racks, Qw) racks.
            if (ensembleSize == writeQuorumSize || racks >= ensembleSize)
            {
                int perRack = registry.GroupBy(b => b.Location).Min(g => g.Count());
                if (perRack >= ensembleSize)
                {
                    Assert.Equal(Math.Min(racks, writeQuorumSize), spread.MinRacks);
                    fullySpread++;
                }
            }

            cases++;
        }

        output.WriteLine($"{cases} registries, {fullySpread} checked for full spread");
        Assert.True(cases > 150 && fullySpread > 15, $"too few cases exercised ({cases}, {fullySpread})");
    }

    [Fact]
    public void Two_racks_of_three_every_write_set_spans_both_also_when_striped()
    {
        var registry = Registry(("/dc/a", 3), ("/dc/b", 3));
        var policy = new RackAwarePlacementPolicy(minRacksPerWriteSet: 2, random: new Random(1));
        foreach (var (e, qw) in new[] { (3, 3), (4, 2), (5, 3), (6, 3), (6, 2), (2, 2) })
        {
            for (int i = 0; i < 50; i++)
            {
                var ensemble = Nodes(policy.ChooseEnsemble(e, qw, registry), registry);
                Assert.Equal(2, WriteSetSpread.Of(ensemble, qw).MinRacks);
            }
        }
    }

    [Fact]
    public void Min_racks_refuses_ensembles_that_cannot_span_them_and_says_why()
    {
        var oneRack = Registry(("/dc/a", 4));
        var policy = new RackAwarePlacementPolicy(minRacksPerWriteSet: 2, random: new Random(3));
        var error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(3, 3, oneRack));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("at least 2 racks", error.Message, StringComparison.Ordinal);
        Assert.Contains("only 1 rack(s): /dc/a (4)", error.Message, StringComparison.Ordinal);

        // Two racks, but the second has one bookie: with E=5, Qw=3 some write set misses it.
        var lopsided = Registry(("/dc/a", 4), ("/dc/b", 1));
        error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(5, 3, lopsided));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("the best spans 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("/dc/a (4), /dc/b (1)", error.Message, StringComparison.Ordinal);

        // An odd ring cannot alternate two racks: with E=3, Qw=2 one write set repeats a rack.
        var twoRacks = Registry(("/dc/a", 2), ("/dc/b", 2));
        error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(3, 2, twoRacks));
        Assert.Contains("the best spans 1", error.Message, StringComparison.Ordinal);

        // A minimum above Qw is capped at Qw; best effort (1) never refuses for racks.
        var ensemble = new RackAwarePlacementPolicy(minRacksPerWriteSet: 5, random: new Random(3)).ChooseEnsemble(4, 2, twoRacks);
        Assert.Equal(2, WriteSetSpread.Of(Nodes(ensemble, twoRacks), 2).MinRacks);
        Assert.Equal(3, new RackAwarePlacementPolicy(random: new Random(3)).ChooseEnsemble(3, 3, oneRack).Count);

        // Too few bookies at all.
        error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(5, 3, oneRack));
        Assert.Contains("only 4 are available", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replacement_keeps_the_write_sets_spread_and_prefers_the_failed_bookies_rack()
    {
        var registry = Registry(("/dc/a", 3), ("/dc/b", 2), ("/dc/c", 2), ("/dc/d", 1));
        for (int seed = 0; seed < 50; seed++)
        {
            var policy = new RackAwarePlacementPolicy(random: new Random(seed));

            // [a1, b1, a2] losing b1: a3 would leave the write set in one rack; b2 keeps both (and is b1's rack).
            var ensemble = Nodes(["_dc_a-1:3181", "_dc_b-1:3181", "_dc_a-2:3181"], registry);
            var available = registry.Where(b => b.Id != "_dc_b-1:3181" && b.Location.Rack is "a" or "b").ToArray();
            Assert.Equal("_dc_b-2:3181", policy.ReplaceBookie(ensemble, 3, "_dc_b-1:3181", available, new HashSet<string>()));

            // [a1, b1, c1] losing c1: c2 and d1 both keep three racks; c2 is in c1's rack.
            ensemble = Nodes(["_dc_a-1:3181", "_dc_b-1:3181", "_dc_c-1:3181"], registry);
            Assert.Equal("_dc_c-2:3181", policy.ReplaceBookie(ensemble, 3, "_dc_c-1:3181", registry, new HashSet<string>()));

            // Excluding c2: d1 (a new rack) beats a or b bookies (which would repeat a rack).
            Assert.Equal("_dc_d-1:3181", policy.ReplaceBookie(ensemble, 3, "_dc_c-1:3181", registry, new HashSet<string> { "_dc_c-2:3181" }));
        }

        // With a minimum it refuses a replacement that would leave a write set on too few racks.
        var strict = new RackAwarePlacementPolicy(minRacksPerWriteSet: 2, random: new Random(5));
        var members = Nodes(["_dc_a-1:3181", "_dc_b-1:3181", "_dc_a-2:3181"], registry);
        var error = Assert.Throws<DlException>(() => strict.ReplaceBookie(members, 3, "_dc_b-1:3181", Nodes(["_dc_a-3:3181"], registry), new HashSet<string>()));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("at least 2 racks", error.Message, StringComparison.Ordinal);
        Assert.Contains("_dc_a-3:3181 /dc/a", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_striped_replacement_only_weighs_the_write_sets_of_the_replaced_position()
    {
        // E=4, Qw=2 alternating a b a b: replacing position 1 (b) must bring a b bookie back, whatever else is free.
        var registry = Registry(("/dc/a", 4), ("/dc/b", 3));
        var ensemble = Nodes(["_dc_a-1:3181", "_dc_b-1:3181", "_dc_a-2:3181", "_dc_b-2:3181"], registry);
        for (int seed = 0; seed < 30; seed++)
        {
            string chosen = new RackAwarePlacementPolicy(random: new Random(seed)).ReplaceBookie(ensemble, 2, "_dc_b-1:3181", registry, new HashSet<string>());
            Assert.Equal("_dc_b-3:3181", chosen);
        }
    }

    [Fact]
    public void Ensembles_split_across_regions_then_racks()
    {
        var registry = Registry(("/east/a", 2), ("/east/b", 2), ("/west/c", 2), ("/west/d", 2));
        var policy = new RackAwarePlacementPolicy(random: new Random(11));
        for (int i = 0; i < 100; i++)
        {
            var three = Nodes(policy.ChooseEnsemble(3, 3, registry), registry);
            Assert.Equal(2, three.Select(b => b.Location.Region).Distinct().Count());
            Assert.Equal(3, three.Select(b => b.Location).Distinct().Count());

            // E=4, Qw=2: every write set crosses regions, so the ensemble is split 2 + 2.
            var four = Nodes(policy.ChooseEnsemble(4, 2, registry), registry);
            Assert.Equal(2, WriteSetSpread.Of(four, 2).MinRegions);
            Assert.Equal(2, four.Count(b => b.Location.Region == "east"));

            // E=6, Qw=3 over three regions: each write set has all three.
            var threeRegions = Registry(("/r1/a", 2), ("/r2/b", 2), ("/r3/c", 2), ("/r1/d", 1));
            var six = Nodes(policy.ChooseEnsemble(6, 3, threeRegions), threeRegions);
            Assert.Equal(3, WriteSetSpread.Of(six, 3).MinRegions);
        }
    }

    [Fact]
    public void Min_regions_refuses_ensembles_and_replacements_that_cannot_span_them()
    {
        var policy = new RackAwarePlacementPolicy(random: new Random(9), minRegionsPerWriteSet: 2);
        var oneRegion = Registry(("/east/a", 2), ("/east/b", 2));
        var error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(3, 3, oneRegion));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("at least 2 regions (min regions 2), but the 4 writable bookies are in only 1 region(s): /east/a (2), /east/b (2)", error.Message, StringComparison.Ordinal);

        // West has one bookie: E=3, Qw=3 works (one write set), E=4, Qw=2 cannot put west in every write set.
        var lopsided = Registry(("/east/a", 3), ("/west/b", 1));
        Assert.Contains("_west_b-1:3181", policy.ChooseEnsemble(3, 3, lopsided));
        error = Assert.Throws<DlException>(() => policy.ChooseEnsemble(4, 2, lopsided));
        Assert.Contains("at least 2 regions", error.Message, StringComparison.Ordinal);
        Assert.Contains("the best spans 1", error.Message, StringComparison.Ordinal);

        // Replacing the west bookie by an east one is refused; by another west one it is fine.
        var registry = Registry(("/east/a", 3), ("/west/b", 2));
        var ensemble = Nodes(["_east_a-1:3181", "_west_b-1:3181", "_east_a-2:3181"], registry);
        error = Assert.Throws<DlException>(() => policy.ReplaceBookie(ensemble, 3, "_west_b-1:3181", Nodes(["_east_a-3:3181"], registry), new HashSet<string>()));
        Assert.Contains("in at least 2 regions", error.Message, StringComparison.Ordinal);
        Assert.Equal("_west_b-2:3181", policy.ReplaceBookie(ensemble, 3, "_west_b-1:3181", registry, new HashSet<string>()));
    }

    [Fact]
    public void A_seed_makes_choices_repeatable_and_equals_are_chosen_at_random()
    {
        var registry = Registry(("/dc/a", 4), ("/dc/b", 4), ("/dc/c", 4));
        List<string> Run(int seed)
        {
            var policy = new RackAwarePlacementPolicy(random: new Random(seed));
            return [.. Enumerable.Range(0, 40).Select(_ => string.Join(",", policy.ChooseEnsemble(3, 3, registry)))];
        }

        Assert.Equal(Run(42), Run(42));
        Assert.NotEqual(Run(42), Run(43));

        // Random among equals: every bookie gets used, and the ensembles vary.
        var ensembles = Run(7);
        Assert.Equal(registry.Length, ensembles.SelectMany(e => e.Split(',')).Distinct().Count());
        Assert.True(ensembles.Distinct().Count() > 20, $"only {ensembles.Distinct().Count()} distinct ensembles in 40");
    }

    [Theory]
    [InlineData("/dc/rack1", true)]
    [InlineData("/default-region/default-rack", true)]
    [InlineData("dc/rack1", false)]
    [InlineData("/dc", false)]
    [InlineData("/dc/rack/extra", false)]
    [InlineData("//rack", false)]
    [InlineData("/dc/", false)]
    [InlineData("/dc/rack 1", false)]
    [InlineData("", false)]
    public void Network_locations_are_two_levels_without_spaces(string path, bool valid)
    {
        Assert.Equal(valid, NetworkLocation.TryParse(path, out var location, out string? error));
        if (valid)
        {
            Assert.Equal(path, location.Path);
        }
        else
        {
            Assert.Contains("rack", error, StringComparison.OrdinalIgnoreCase);
            Assert.Throws<ArgumentException>(() => NetworkLocation.Parse(path));
        }
    }

    [Fact]
    public void Reads_try_the_local_rack_then_region_then_the_write_sets_order()
    {
        string[] ensemble = ["a:1", "b:1", "c:1", "d:1", "e:1"];
        var where = new Dictionary<string, NetworkLocation>
        {
            ["a:1"] = At("/east/r1"), ["b:1"] = At("/west/r2"), ["c:1"] = At("/east/r3"), ["d:1"] = At("/west/r4"), ["e:1"] = At("/east/r1"),
        };
        NetworkLocation? Locate(string id) => where.GetValueOrDefault(id);

        // Entry 1's write set (Qw=3) is positions 1, 2, 3 = b (west/r2), c (east/r3), d (west/r4).
        Assert.Equal([1, 2, 3], ReadOrder.Order(ensemble, 1, 3, null, Locate));
        Assert.Equal([3, 1, 2], ReadOrder.Order(ensemble, 1, 3, At("/west/r4"), Locate));
        Assert.Equal([2, 1, 3], ReadOrder.Order(ensemble, 1, 3, At("/east/r9"), Locate));
        Assert.Equal([1, 2, 3], ReadOrder.Order(ensemble, 1, 3, At("/north/r1"), Locate));

        // Entry 4 wraps: positions 4, 0, 1 = e (east/r1), a (east/r1), b (west/r2); an unknown bookie counts as remote.
        Assert.Equal([1, 4, 0], ReadOrder.Order(ensemble, 4, 3, At("/west/r2"), Locate));
        where.Remove("e:1");
        Assert.Equal([0, 4, 1], ReadOrder.Order(ensemble, 4, 3, At("/east/r1"), Locate));
    }
}
