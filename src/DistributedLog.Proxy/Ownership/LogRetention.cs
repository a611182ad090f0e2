using DistributedLog.Namespaces;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Segments;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Ownership;

/// <summary>
/// Retention that runs by itself: every <see cref="ProxyOptions.RetentionCheckInterval"/> the proxy applies the
/// namespace's <see cref="ProxyOptions.Retention"/> policy to each log it owns (only the owner does, as in DistributedLog
/// where the writer purges on roll), truncating the completed segments past it and deleting their ledgers (the bookies
/// reclaim the space by their garbage collection). A log that fails is logged and tried again next round.
/// </summary>
internal sealed partial class LogRetention
{
    private readonly DistributedLogNamespace _namespace;
    private readonly RetentionPolicy _policy;
    private readonly TimeSpan _interval;
    private readonly Func<IReadOnlyList<string>> _ownedLogs;
    private readonly ProxyMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public LogRetention(DistributedLogNamespace ns, ProxyOptions options, Func<IReadOnlyList<string>> ownedLogs, ProxyMetrics metrics, TimeProvider time,
        ILogger logger)
    {
        _namespace = ns;
        _policy = options.Retention;
        _interval = options.RetentionCheckInterval;
        _ownedLogs = ownedLogs;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>Runs rounds until <paramref name="stopping"/> fires; returns at once when the policy keeps everything.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        if (!_policy.IsEnabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                await RunOnceAsync(stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Applies the policy to every owned log once; returns how many segments were truncated.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        int total = 0;
        foreach (string log in _ownedLogs())
        {
            try
            {
                int purged = await LogTruncation.ApplyRetentionAsync(_namespace.Metadata, _namespace.Store, _namespace.Ledgers, log, _policy,
                    _time.GetUtcNow(), cancellationToken);
                if (purged > 0)
                {
                    total += purged;
                    _metrics.RetentionPurged(purged);
                    LogPurged(_logger, log, purged);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _metrics.RetentionFailed();
                LogFailed(_logger, log, e.Message);
            }
        }

        return total;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention truncated {Count} completed segments of log {Log} and deleted their ledgers")]
    private static partial void LogPurged(ILogger logger, string log, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention of log {Log} failed; trying again next round: {Error}")]
    private static partial void LogFailed(ILogger logger, string log, string error);
}
