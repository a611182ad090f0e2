using System.CommandLine;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Placement;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Commands;

/// <summary>The placement flags of the commands that create ledgers (<c>--min-racks</c>, <c>--min-regions</c>) or read them (<c>--rack</c>).</summary>
internal static class PlacementOptions
{
    /// <summary><c>--min-racks N</c>: racks every write set must span (default 1, best effort).</summary>
    public static Option<int> MinRacks() => new("--min-racks")
    {
        Description = "Racks every write set of a new ledger must span (capped at the write quorum); ledgers that cannot are refused. 1 = best effort.",
        DefaultValueFactory = _ => 1,
    };

    /// <summary><c>--min-regions N</c>: regions every write set must span (default 1, best effort).</summary>
    public static Option<int> MinRegions() => new("--min-regions")
    {
        Description = "Regions every write set of a new ledger must span (capped at the write quorum); ledgers that cannot are refused. 1 = best effort.",
        DefaultValueFactory = _ => 1,
    };

    /// <summary><c>--rack /REGION/RACK</c> of a client: reads try replicas there first.</summary>
    public static Option<string?> ClientRack() => new("--rack")
    {
        Description = "This client's network location, /REGION/RACK: reads try the replica in this rack, then region, first.",
    };

    /// <summary>Ledger client settings from the flags (validated: a clear error for a bad value).</summary>
    public static LedgerClientOptions LedgerClient(int minRacks, int minRegions, string? rack, ILoggerFactory? loggerFactory = null)
    {
        if (minRacks < 1)
        {
            throw new ArgumentException($"--min-racks must be at least 1 (got {minRacks}).");
        }

        if (minRegions < 1)
        {
            throw new ArgumentException($"--min-regions must be at least 1 (got {minRegions}).");
        }

        return new LedgerClientOptions
        {
            MinRacksPerWriteSet = minRacks,
            MinRegionsPerWriteSet = minRegions,
            Rack = rack is null ? null : NetworkLocation.Parse(rack).Path,
            LoggerFactory = loggerFactory,
        };
    }
}
