using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// Chooses which bookies hold a ledger (BookKeeper's EnsemblePlacementPolicy). Entries are striped over the ensemble
/// (<see cref="DistributionSchedule"/>): each entry is stored on a write set of Qw consecutive positions, so a policy
/// that spreads failure domains arranges the ensemble so that every write set spans them.
/// </summary>
public interface IEnsemblePlacementPolicy
{
    /// <summary>Chooses and orders <paramref name="ensembleSize"/> distinct bookies among <paramref name="available"/>.</summary>
    /// <param name="ensembleSize">E.</param>
    /// <param name="writeQuorumSize">Qw: how many consecutive positions store each entry.</param>
    /// <param name="available">The placeable bookies with their locations.</param>
    /// <exception cref="DlException"><c>NotEnoughBookies</c> when there are too few, or (with a minimum) too few racks.</exception>
    IReadOnlyList<string> ChooseEnsemble(int ensembleSize, int writeQuorumSize, IReadOnlyCollection<BookieNode> available);

    /// <summary>
    /// Chooses a bookie to replace <paramref name="failed"/> in <paramref name="ensemble"/> (an ensemble change, or
    /// re-replication): available, not in the ensemble, not in <paramref name="excluded"/>.
    /// </summary>
    /// <param name="ensemble">The current ensemble with the locations of its bookies (<paramref name="failed"/> included).</param>
    /// <param name="writeQuorumSize">Qw of the ledger.</param>
    /// <param name="failed">The bookie to replace.</param>
    /// <param name="available">The placeable bookies with their locations.</param>
    /// <param name="excluded">Bookies not to choose.</param>
    /// <exception cref="DlException"><c>NotEnoughBookies</c> when no bookie qualifies.</exception>
    string ReplaceBookie(IReadOnlyList<BookieNode> ensemble, int writeQuorumSize, string failed, IReadOnlyCollection<BookieNode> available,
        IReadOnlySet<string> excluded);
}

/// <summary>Uniformly random among available bookies, never the same bookie twice in an ensemble; ignores locations.</summary>
public sealed class RandomPlacementPolicy(Random? random = null) : IEnsemblePlacementPolicy
{
    private readonly Random _random = random ?? Random.Shared;

    /// <inheritdoc />
    public IReadOnlyList<string> ChooseEnsemble(int ensembleSize, int writeQuorumSize, IReadOnlyCollection<BookieNode> available)
    {
        var candidates = available.Select(b => b.Id).Distinct(StringComparer.Ordinal).ToArray();
        if (candidates.Length < ensembleSize)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"Need {ensembleSize} writable bookies for the ensemble but only {candidates.Length} are available ({string.Join(", ", candidates)}).");
        }

        lock (_random)
        {
            _random.Shuffle(candidates);
        }

        return candidates[..ensembleSize];
    }

    /// <inheritdoc />
    public string ReplaceBookie(IReadOnlyList<BookieNode> ensemble, int writeQuorumSize, string failed, IReadOnlyCollection<BookieNode> available,
        IReadOnlySet<string> excluded)
    {
        var candidates = PlacementCandidates.ForReplacement(ensemble, failed, available, excluded);
        lock (_random)
        {
            return candidates[_random.Next(candidates.Length)].Id;
        }
    }
}

/// <summary>Candidate filtering shared by the policies.</summary>
internal static class PlacementCandidates
{
    /// <summary>Distinct available bookies outside the ensemble and <paramref name="excluded"/>; throws when there are none.</summary>
    public static BookieNode[] ForReplacement(IReadOnlyList<BookieNode> ensemble, string failed, IReadOnlyCollection<BookieNode> available,
        IReadOnlySet<string> excluded)
    {
        var members = ensemble.Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var candidates = available.Where(b => b.Id != failed && !members.Contains(b.Id) && !excluded.Contains(b.Id) && seen.Add(b.Id)).ToArray();
        if (candidates.Length == 0)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"No writable bookie can replace {failed}: the ensemble is [{string.Join(", ", ensemble.Select(b => b.Id))}], " +
                $"available [{string.Join(", ", available.Select(b => b.Id))}].");
        }

        return candidates;
    }
}
