namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// Round-robin striping (BookKeeper's RoundRobinDistributionSchedule): entry <c>e</c> is written to the ensemble
/// positions <c>(e + k) mod E</c> for <c>k = 0 .. Qw-1</c>; there are E distinct write sets.
/// </summary>
public static class DistributionSchedule
{
    /// <summary>The ensemble position of the <paramref name="k"/>-th replica of <paramref name="entryId"/>.</summary>
    public static int BookieIndex(long entryId, int k, int ensembleSize) => (int)((entryId + k) % ensembleSize);

    /// <summary>Whether ensemble position <paramref name="bookieIndex"/> is in the write set of <paramref name="entryId"/>.</summary>
    public static bool InWriteSet(long entryId, int bookieIndex, int ensembleSize, int writeQuorum)
    {
        int first = (int)(entryId % ensembleSize);
        int distance = (bookieIndex - first + ensembleSize) % ensembleSize;
        return distance < writeQuorum;
    }

    /// <summary>
    /// Quorum coverage (BookKeeper's RRQuorumCoverageSet): true when, in every one of the E write sets, fewer than Qa
    /// bookies are still unknown — so no entry can have reached an ack quorum without one of the known bookies seeing it.
    /// </summary>
    /// <param name="known">Per ensemble position: whether that bookie answered (positively or with "no such entry/ledger").</param>
    /// <param name="writeQuorum">Qw.</param>
    /// <param name="ackQuorum">Qa.</param>
    public static bool IsCovered(ReadOnlySpan<bool> known, int writeQuorum, int ackQuorum)
    {
        int ensembleSize = known.Length;
        for (int first = 0; first < ensembleSize; first++)
        {
            int unknown = 0;
            for (int k = 0; k < writeQuorum; k++)
            {
                if (!known[(first + k) % ensembleSize])
                {
                    unknown++;
                }
            }

            if (unknown >= ackQuorum)
            {
                return false;
            }
        }

        return true;
    }
}
