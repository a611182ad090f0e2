using DistributedLog.Protocol.Errors;
using DistributedLog.Proxy.Hosting;

namespace DistributedLog.Proxy.Limits;

/// <summary>
/// Requests and bytes per second over one-second windows, lock-free and allocation-free: a hard limit rejects with
/// OVER_CAPACITY (517), a soft limit only counts in the metrics. One per log and one for the whole proxy.
/// </summary>
internal sealed class RateLimiter(RateLimitOptions options, string scope, ProxyMetrics metrics, TimeProvider time)
{
    private long _window = -1;
    private long _requests;
    private long _bytes;

    /// <summary>Whether any limit is set (callers skip the limiter otherwise).</summary>
    public bool IsActive { get; } = !options.IsUnlimited;

    /// <summary>Counts <paramref name="requests"/> requests carrying <paramref name="bytes"/> bytes; throws when a hard limit would be passed.</summary>
    /// <exception cref="OverCapacityException">A hard limit is reached in this second; nothing was counted.</exception>
    public void Acquire(long requests, long bytes)
    {
        long window = time.GetTimestamp() / time.TimestampFrequency;
        long seen = Volatile.Read(ref _window);
        if (seen != window && Interlocked.CompareExchange(ref _window, window, seen) == seen)
        {
            Interlocked.Exchange(ref _requests, 0);
            Interlocked.Exchange(ref _bytes, 0);
        }

        long r = Interlocked.Add(ref _requests, requests);
        long b = Interlocked.Add(ref _bytes, bytes);
        if ((options.HardRequestsPerSecond > 0 && r > options.HardRequestsPerSecond) || (options.HardBytesPerSecond > 0 && b > options.HardBytesPerSecond))
        {
            Interlocked.Add(ref _requests, -requests);
            Interlocked.Add(ref _bytes, -bytes);
            metrics.Rejected(scope);
            throw new OverCapacityException(
                $"The {scope} limit is reached ({Describe(options.HardRequestsPerSecond, "requests")}, {Describe(options.HardBytesPerSecond, "bytes")}); retry later.");
        }

        if ((options.SoftRequestsPerSecond > 0 && r > options.SoftRequestsPerSecond) || (options.SoftBytesPerSecond > 0 && b > options.SoftBytesPerSecond))
        {
            metrics.SoftLimitExceeded(scope);
        }
    }

    private static string Describe(long limit, string unit) => limit > 0 ? $"{limit} {unit}/s" : $"no {unit} limit";
}
