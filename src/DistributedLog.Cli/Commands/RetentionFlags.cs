using System.CommandLine;
using DistributedLog.Segments;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// The retention flags shared by <c>dlog proxy</c> and <c>dlog sandbox</c>: the namespace's policy, applied by the
/// proxy to the logs it owns.
/// </summary>
internal sealed class RetentionFlags
{
    public Option<double> Hours { get; } = new("--retention-hours")
    {
        Description = "Delete completed segments (and their ledgers) this many hours after they completed; fractions allowed; 0 keeps them forever.",
        DefaultValueFactory = _ => 0,
    };

    public Option<double> MaxMbPerLog { get; } = new("--retention-max-mb-per-log")
    {
        Description = "Also delete the oldest completed segments of a log while its completed segments hold more than this many MiB; 0: no size limit.",
        DefaultValueFactory = _ => 0,
    };

    public Option<bool> PurgeLastSegment { get; } = new("--retention-purge-last-segment")
    {
        Description = "Let retention delete a log's last completed segment too (by default it is kept, as in DistributedLog, until truncated explicitly).",
    };

    public Option<double> CheckSeconds { get; } = new("--retention-check-seconds")
    {
        Description = "How often the retention policy is applied to the owned logs, in seconds.",
        DefaultValueFactory = _ => 300,
    };

    public IEnumerable<Option> All => [Hours, MaxMbPerLog, PurgeLastSegment, CheckSeconds];

    /// <summary>The policy and check interval the flags describe.</summary>
    /// <exception cref="ArgumentException">A flag is negative, not finite, or the interval is not positive.</exception>
    public (RetentionPolicy Policy, TimeSpan CheckInterval) Parse(ParseResult result)
    {
        double hours = result.GetValue(Hours);
        if (!(hours >= 0) || !double.IsFinite(hours))
        {
            throw new ArgumentException($"--retention-hours must be 0 (keep forever) or a positive number of hours (got {hours}).");
        }

        double mb = result.GetValue(MaxMbPerLog);
        if (!(mb >= 0) || !double.IsFinite(mb))
        {
            throw new ArgumentException($"--retention-max-mb-per-log must be 0 (no limit) or a positive number of MiB (got {mb}).");
        }

        double check = result.GetValue(CheckSeconds);
        if (!(check > 0) || !double.IsFinite(check))
        {
            throw new ArgumentException($"--retention-check-seconds must be a positive number of seconds (got {check}).");
        }

        var policy = new RetentionPolicy
        {
            MaxAge = hours > 0 ? TimeSpan.FromHours(hours) : null,
            MaxBytesPerLog = mb > 0 ? Math.Max(1, (long)(mb * (1 << 20))) : null,
            KeepLastCompletedSegment = !result.GetValue(PurgeLastSegment),
        };
        return (policy, TimeSpan.FromSeconds(check));
    }
}
