using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// The default policy (BookKeeper's RackawareEnsemblePlacementPolicy with RegionAware's region split): arranges each
/// ensemble so that every write set — the Qw consecutive positions that store an entry — spans as many regions as it can
/// and, within that, as many racks as it can; random among equally good choices. With
/// <see cref="MinRacksPerWriteSet"/> (or <see cref="MinRegionsPerWriteSet"/>) above 1 it refuses (<c>NotEnoughBookies</c>)
/// an ensemble or a replacement that leaves a write set on fewer racks (regions); at most Qw are ever required. Replacements prefer, among the bookies that
/// keep the write sets spread best, one in the failed bookie's rack (then region).
/// </summary>
public sealed class RackAwarePlacementPolicy : IEnsemblePlacementPolicy
{
    /// <summary>Randomised arrangements tried per ensemble before the best one is taken.</summary>
    private const int Attempts = 24;

    private readonly Random _random;

    /// <summary>Creates the policy.</summary>
    /// <param name="minRacksPerWriteSet">Racks every write set must span (capped at Qw); 1 = best effort.</param>
    /// <param name="random">The source of randomness (seed it for repeatable choices); default shared.</param>
    /// <param name="minRegionsPerWriteSet">Regions every write set must span (capped at Qw); 1 = best effort.</param>
    public RackAwarePlacementPolicy(int minRacksPerWriteSet = 1, Random? random = null, int minRegionsPerWriteSet = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minRacksPerWriteSet, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minRegionsPerWriteSet, 1);
        MinRacksPerWriteSet = minRacksPerWriteSet;
        MinRegionsPerWriteSet = minRegionsPerWriteSet;
        _random = random ?? Random.Shared;
    }

    /// <summary>Racks every write set must span (capped at Qw); 1 means best effort, never refusing for racks.</summary>
    public int MinRacksPerWriteSet { get; }

    /// <summary>Regions every write set must span (capped at Qw); 1 means best effort, never refusing for regions.</summary>
    public int MinRegionsPerWriteSet { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ChooseEnsemble(int ensembleSize, int writeQuorumSize, IReadOnlyCollection<BookieNode> available)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ensembleSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(writeQuorumSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(writeQuorumSize, ensembleSize);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var candidates = available.Where(b => seen.Add(b.Id)).ToArray();
        if (candidates.Length < ensembleSize)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Need {ensembleSize} writable bookies for the ensemble but only {candidates.Length} are available ({string.Join(", ", candidates.Select(b => b.Id))}).");
        }

        int required = Math.Min(MinRacksPerWriteSet, writeQuorumSize);
        int racks = candidates.Select(b => b.Location).Distinct().Count();
        if (racks < required)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Every write set of {writeQuorumSize} bookies must span at least {required} racks (min racks {MinRacksPerWriteSet}), " +
                $"but the {candidates.Length} writable bookies are in only {racks} rack(s): {DescribeRacks(candidates)}.");
        }

        int requiredRegions = Math.Min(MinRegionsPerWriteSet, writeQuorumSize);
        int regions = candidates.Select(b => b.Location.Region).Distinct(StringComparer.Ordinal).Count();
        if (regions < requiredRegions)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Every write set of {writeQuorumSize} bookies must span at least {requiredRegions} regions (min regions {MinRegionsPerWriteSet}), " +
                $"but the {candidates.Length} writable bookies are in only {regions} region(s): {DescribeRacks(candidates)}.");
        }

        var bound = new WriteSetSpread(Math.Min(regions, writeQuorumSize), Math.Min(racks, writeQuorumSize), 0, 0);
        BookieNode[]? best = null;
        var bestSpread = default(WriteSetSpread);
        lock (_random)
        {
            // Shuffled once, so that the improvement step's "first unused bookie of a rack" is a random one too.
            _random.Shuffle(candidates);
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                var ensemble = Arrange(ensembleSize, writeQuorumSize, candidates);
                var spread = Improve(ensemble, writeQuorumSize, candidates);
                if (best is null || spread.CompareTo(bestSpread) > 0)
                {
                    (best, bestSpread) = (ensemble, spread);
                }

                if (bestSpread.MinRegions >= bound.MinRegions && bestSpread.MinRacks >= bound.MinRacks)
                {
                    break;
                }
            }
        }

        if (bestSpread.MinRacks < required)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Every write set of {writeQuorumSize} bookies must span at least {required} racks (min racks {MinRacksPerWriteSet}), " +
                $"but no ensemble of {ensembleSize} of the {candidates.Length} writable bookies does (the best spans {bestSpread.MinRacks}); " +
                $"{racks} racks: {DescribeRacks(candidates)}.");
        }

        if (bestSpread.MinRegions < requiredRegions)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Every write set of {writeQuorumSize} bookies must span at least {requiredRegions} regions (min regions {MinRegionsPerWriteSet}), " +
                $"but no ensemble of {ensembleSize} of the {candidates.Length} writable bookies does (the best spans {bestSpread.MinRegions}); " +
                $"{regions} regions: {DescribeRacks(candidates)}.");
        }

        return best!.Select(b => b.Id).ToArray();
    }

    /// <inheritdoc />
    public string ReplaceBookie(IReadOnlyList<BookieNode> ensemble, int writeQuorumSize, string failed, IReadOnlyCollection<BookieNode> available,
        IReadOnlySet<string> excluded)
    {
        int index = -1;
        for (int i = 0; i < ensemble.Count; i++)
        {
            if (ensemble[i].Id == failed)
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            throw new ArgumentException($"Bookie {failed} is not in the ensemble [{string.Join(", ", ensemble.Select(b => b.Id))}].", nameof(failed));
        }

        var candidates = PlacementCandidates.ForReplacement(ensemble, failed, available, excluded);
        var failedLocation = ensemble[index].Location;
        var trial = ensemble.ToArray();
        var best = new List<BookieNode>();
        (WriteSetSpread Spread, int Affinity) bestScore = default;
        foreach (var candidate in candidates)
        {
            trial[index] = candidate;
            var spread = WriteSetSpread.Of(trial, writeQuorumSize, containing: index);
            int affinity = candidate.Location == failedLocation ? 2 : candidate.Location.Region == failedLocation.Region ? 1 : 0;
            int order = 1;
            if (best.Count > 0)
            {
                order = spread.CompareTo(bestScore.Spread);
                order = order != 0 ? order : affinity.CompareTo(bestScore.Affinity);
            }

            if (order > 0)
            {
                best.Clear();
                bestScore = (spread, affinity);
            }

            if (order >= 0)
            {
                best.Add(candidate);
            }
        }

        int required = Math.Min(MinRacksPerWriteSet, writeQuorumSize);
        int requiredRegions = Math.Min(MinRegionsPerWriteSet, writeQuorumSize);
        if (bestScore.Spread.MinRegions < requiredRegions)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"No writable bookie can replace {failed} and keep every write set containing it in at least {requiredRegions} regions (min regions " +
                $"{MinRegionsPerWriteSet}; the best spans {bestScore.Spread.MinRegions}): the ensemble is [{Describe(ensemble)}], the candidates are [{Describe(candidates)}].");
        }

        if (bestScore.Spread.MinRacks < required)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"No writable bookie can replace {failed} and keep every write set containing it on at least {required} racks (min racks " +
                $"{MinRacksPerWriteSet}; the best spans {bestScore.Spread.MinRacks}): the ensemble is [{Describe(ensemble)}], the candidates are [{Describe(candidates)}].");
        }

        lock (_random)
        {
            return best[_random.Next(best.Count)].Id;
        }
    }

    /// <summary>
    /// One randomised greedy arrangement: position by position, a bookie from the rack that shares the fewest regions,
    /// then racks, with the positions of the write sets it joins (wrapping around the ensemble); among those, racks with
    /// the most bookies left first (so small racks are not used up early), then at random.
    /// </summary>
    private BookieNode[] Arrange(int ensembleSize, int writeQuorumSize, BookieNode[] candidates)
    {
        var pools = candidates.GroupBy(b => b.Location).Select(g =>
        {
            var members = g.ToArray();
            _random.Shuffle(members);
            return new Stack<BookieNode>(members);
        }).ToArray();
        var ensemble = new BookieNode[ensembleSize];
        var ties = new List<Stack<BookieNode>>();
        for (int position = 0; position < ensembleSize; position++)
        {
            ties.Clear();
            (int Regions, int Racks, int Left) bestScore = default;
            foreach (var pool in pools)
            {
                if (pool.Count == 0)
                {
                    continue;
                }

                var location = pool.Peek().Location;
                int sharedRegions = 0, sharedRacks = 0;
                for (int distance = 1; distance < writeQuorumSize && distance < ensembleSize; distance++)
                {
                    // The earlier neighbour, and (wrapping around) the later one if it is already placed.
                    foreach (int other in (ReadOnlySpan<int>)[position - distance, position + distance - ensembleSize])
                    {
                        if (other >= 0 && other < position)
                        {
                            sharedRegions += ensemble[other].Location.Region == location.Region ? 1 : 0;
                            sharedRacks += ensemble[other].Location == location ? 1 : 0;
                        }
                    }
                }

                var score = (sharedRegions, sharedRacks, -pool.Count);
                if (ties.Count == 0 || score.CompareTo(bestScore) < 0)
                {
                    ties.Clear();
                    bestScore = score;
                    ties.Add(pool);
                }
                else if (score.CompareTo(bestScore) == 0)
                {
                    ties.Add(pool);
                }
            }

            ensemble[position] = ties[_random.Next(ties.Count)].Pop();
        }

        return ensemble;
    }

    /// <summary>
    /// Hill-climbs from a greedy arrangement: swaps two positions of different racks, or puts an unused bookie of another
    /// rack in a position, whenever that spreads the write sets better, until nothing does. Returns the final spread.
    /// </summary>
    private static WriteSetSpread Improve(BookieNode[] ensemble, int writeQuorumSize, BookieNode[] candidates)
    {
        var current = WriteSetSpread.Of(ensemble, writeQuorumSize);
        if (ensemble.Length == writeQuorumSize && ensemble.Length == candidates.Length)
        {
            return current; // one write set of every bookie: nothing to move
        }

        for (bool improved = true; improved;)
        {
            improved = false;
            for (int i = 0; i < ensemble.Length; i++)
            {
                for (int j = i + 1; j < ensemble.Length && ensemble.Length > writeQuorumSize; j++)
                {
                    if (ensemble[i].Location == ensemble[j].Location)
                    {
                        continue;
                    }

                    (ensemble[i], ensemble[j]) = (ensemble[j], ensemble[i]);
                    var spread = WriteSetSpread.Of(ensemble, writeQuorumSize);
                    if (spread.CompareTo(current) > 0)
                    {
                        (current, improved) = (spread, true);
                    }
                    else
                    {
                        (ensemble[i], ensemble[j]) = (ensemble[j], ensemble[i]);
                    }
                }
            }

            var used = ensemble.Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
            var unused = candidates.Where(b => !used.Contains(b.Id)).DistinctBy(b => b.Location).ToArray();
            for (int i = 0; i < ensemble.Length; i++)
            {
                foreach (var other in unused)
                {
                    if (other.Location == ensemble[i].Location || used.Contains(other.Id))
                    {
                        continue;
                    }

                    var replaced = ensemble[i];
                    ensemble[i] = other;
                    var spread = WriteSetSpread.Of(ensemble, writeQuorumSize);
                    if (spread.CompareTo(current) > 0)
                    {
                        (current, improved) = (spread, true);
                        used.Remove(replaced.Id);
                        used.Add(other.Id);
                        break;
                    }

                    ensemble[i] = replaced;
                }
            }
        }

        return current;
    }

    private static string DescribeRacks(IEnumerable<BookieNode> bookies) =>
        string.Join(", ", bookies.GroupBy(b => b.Location.Path, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} ({g.Count()})"));

    private static string Describe(IEnumerable<BookieNode> bookies) => string.Join(", ", bookies.Select(b => $"{b.Id} {b.Location.Path}"));
}

/// <summary>
/// How well an ensemble spreads its write sets: the fewest regions and racks any write set spans, then the totals over
/// all write sets. Larger is better (compared in that order).
/// </summary>
/// <param name="MinRegions">Fewest distinct regions in a write set.</param>
/// <param name="MinRacks">Fewest distinct racks in a write set.</param>
/// <param name="SumRegions">Distinct regions summed over the write sets.</param>
/// <param name="SumRacks">Distinct racks summed over the write sets.</param>
public readonly record struct WriteSetSpread(int MinRegions, int MinRacks, int SumRegions, int SumRacks) : IComparable<WriteSetSpread>
{
    /// <summary>The spread of <paramref name="ensemble"/>'s write sets (only those containing position <paramref name="containing"/> when given).</summary>
    public static WriteSetSpread Of(IReadOnlyList<BookieNode> ensemble, int writeQuorumSize, int? containing = null)
    {
        int ensembleSize = ensemble.Count;
        int minRegions = int.MaxValue, minRacks = int.MaxValue, sumRegions = 0, sumRacks = 0;
        var racks = new HashSet<NetworkLocation>();
        var regions = new HashSet<string>(StringComparer.Ordinal);
        int writeSets = ensembleSize == writeQuorumSize ? 1 : ensembleSize;
        for (int first = 0; first < writeSets; first++)
        {
            if (containing is int position && !DistributionSchedule.InWriteSet(first, position, ensembleSize, writeQuorumSize))
            {
                continue;
            }

            racks.Clear();
            regions.Clear();
            for (int k = 0; k < writeQuorumSize; k++)
            {
                var location = ensemble[DistributionSchedule.BookieIndex(first, k, ensembleSize)].Location;
                racks.Add(location);
                regions.Add(location.Region);
            }

            minRegions = Math.Min(minRegions, regions.Count);
            minRacks = Math.Min(minRacks, racks.Count);
            sumRegions += regions.Count;
            sumRacks += racks.Count;
        }

        return new WriteSetSpread(minRegions, minRacks, sumRegions, sumRacks);
    }

    /// <inheritdoc />
    public int CompareTo(WriteSetSpread other) =>
        MinRegions != other.MinRegions ? MinRegions.CompareTo(other.MinRegions)
        : MinRacks != other.MinRacks ? MinRacks.CompareTo(other.MinRacks)
        : SumRegions != other.SumRegions ? SumRegions.CompareTo(other.SumRegions)
        : SumRacks.CompareTo(other.SumRacks);
}
