using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Placement;

/// <summary>Chooses which bookies hold a ledger (BookKeeper's EnsemblePlacementPolicy).</summary>
public interface IEnsemblePlacementPolicy
{
    /// <summary>Chooses <paramref name="ensembleSize"/> distinct bookies among <paramref name="available"/>.</summary>
    /// <exception cref="DlException"><c>NotEnoughBookies</c> when there are too few.</exception>
    IReadOnlyList<string> ChooseEnsemble(int ensembleSize, IReadOnlyCollection<string> available);

    /// <summary>Chooses a bookie to replace <paramref name="failed"/> in <paramref name="ensemble"/>: available, not in the ensemble, not excluded.</summary>
    /// <exception cref="DlException"><c>NotEnoughBookies</c> when no bookie qualifies.</exception>
    string ReplaceBookie(IReadOnlyList<string> ensemble, string failed, IReadOnlyCollection<string> available, IReadOnlySet<string> excluded);
}

/// <summary>The default policy: uniformly random among available bookies, never the same bookie twice in an ensemble.</summary>
public sealed class RandomPlacementPolicy(Random? random = null) : IEnsemblePlacementPolicy
{
    private readonly Random _random = random ?? Random.Shared;

    /// <inheritdoc />
    public IReadOnlyList<string> ChooseEnsemble(int ensembleSize, IReadOnlyCollection<string> available)
    {
        var candidates = available.Distinct(StringComparer.Ordinal).ToArray();
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
    public string ReplaceBookie(IReadOnlyList<string> ensemble, string failed, IReadOnlyCollection<string> available, IReadOnlySet<string> excluded)
    {
        var candidates = available.Where(b => b != failed && !ensemble.Contains(b) && !excluded.Contains(b)).Distinct(StringComparer.Ordinal).ToArray();
        if (candidates.Length == 0)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"No writable bookie can replace {failed}: the ensemble is [{string.Join(", ", ensemble)}], available [{string.Join(", ", available)}].");
        }

        lock (_random)
        {
            return candidates[_random.Next(candidates.Length)];
        }
    }
}
