namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// The order in which a reader tries the replicas of an entry (BookKeeper's reorderReadSequence): replicas in the
/// reader's own rack first, then in its region, then the others; within each group the write set's own order, so
/// without a location (or when nothing is local) the order is the write set's.
/// </summary>
public static class ReadOrder
{
    /// <summary>
    /// Ensemble positions of <paramref name="entryId"/>'s write set in the order to try them.
    /// </summary>
    /// <param name="ensemble">The ensemble that stores the entry.</param>
    /// <param name="entryId">The entry.</param>
    /// <param name="writeQuorumSize">Qw.</param>
    /// <param name="reader">The reader's location, or null (no reordering).</param>
    /// <param name="locate">A bookie's location, or null when unknown (counted as remote).</param>
    public static int[] Order(IReadOnlyList<string> ensemble, long entryId, int writeQuorumSize, NetworkLocation? reader, Func<string, NetworkLocation?> locate)
    {
        var positions = new int[writeQuorumSize];
        for (int k = 0; k < writeQuorumSize; k++)
        {
            positions[k] = DistributionSchedule.BookieIndex(entryId, k, ensemble.Count);
        }

        if (reader is null)
        {
            return positions;
        }

        // OrderBy is stable: equally distant replicas keep the write set's order.
        return positions.OrderBy(p => Distance(reader, locate(ensemble[p]))).ToArray();
    }

    /// <summary>0 same rack, 1 same region, 2 elsewhere or unknown.</summary>
    public static int Distance(NetworkLocation reader, NetworkLocation? bookie) =>
        bookie is null ? 2 : bookie == reader ? 0 : bookie.Region == reader.Region ? 1 : 2;
}
