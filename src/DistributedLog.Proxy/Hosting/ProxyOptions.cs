using DistributedLog.Writers;

namespace DistributedLog.Proxy.Hosting;

/// <summary>Settings of a write proxy (<c>dlog proxy</c>, the sandbox, tests).</summary>
public sealed class ProxyOptions
{
    /// <summary>Address to listen on. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to listen on (0 picks a free one). Default 7000.</summary>
    public int Port { get; init; } = 7000;

    /// <summary>
    /// Port of the HTTP/1.1 admin endpoint serving <c>/metrics</c> (Prometheus) and <c>/healthz</c>: 0 picks a free one,
    /// -1 turns it off. (gRPC on cleartext needs HTTP/2 with prior knowledge, which Kestrel cannot share with HTTP/1.1 on
    /// one port without TLS.) Default 0.
    /// </summary>
    public int AdminPort { get; init; }

    /// <summary>
    /// The endpoint other proxies and clients use to reach this one (what FOUND redirects name). Default
    /// <c>http://&lt;Host&gt;:&lt;bound port&gt;</c>.
    /// </summary>
    public string? AdvertisedEndpoint { get; init; }

    /// <summary>The namespace served. Default "default".</summary>
    public string Namespace { get; init; } = "default";

    /// <summary>
    /// Time to live of the lease under which this proxy owns logs and is registered: after the proxy dies, its logs can
    /// move to another proxy after this long. Default 10 s.
    /// </summary>
    public TimeSpan OwnershipTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Most logs this proxy owns at once; beyond it, requests for new logs get TOO_MANY_STREAMS (524). Default 10 000.</summary>
    public int MaxLogs { get; init; } = 10_000;

    /// <summary>A log with no request for this long is released (its segment completed), freeing a slot. Default 10 min.</summary>
    public TimeSpan IdleLogTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long one request may take before it fails with a timeout. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Limits applied to each log.</summary>
    public RateLimitOptions PerLogLimits { get; init; } = new();

    /// <summary>Limits applied to the whole proxy.</summary>
    public RateLimitOptions PerProxyLimits { get; init; } = new();

    /// <summary>Settings of the writers this proxy opens (its endpoint, ownership TTL and lock timeout are set by the proxy).</summary>
    public LogWriterOptions Writer { get; init; } = new();

    /// <summary>
    /// Settings of the ledger client of a proxy that opens its own namespace (placement: minimum racks per write set,
    /// the proxy's own rack for reads). Default null: the ledger client's defaults.
    /// </summary>
    public Ledgers.LedgerClientOptions? Ledgers { get; init; }

    /// <summary>
    /// Largest request message accepted (bytes): one unary write, one bulk write, or one message of a write stream. Default
    /// 4 MiB: four records of the largest size (a record is at most 1 MiB − 8 KiB), or a bulk batch of up to about 4 MiB.
    /// A larger message is refused with RESOURCE_EXHAUSTED from its length prefix, before it is buffered, so concurrent
    /// giant requests cannot grow the proxy's memory.
    /// </summary>
    public int MaxMessageSize { get; init; } = 4 << 20;

    /// <summary>
    /// The namespace's retention policy, applied by this proxy to the logs it owns (completed segments past it are
    /// truncated and their ledgers deleted). Default: keep forever.
    /// </summary>
    public Segments.RetentionPolicy Retention { get; init; } = Segments.RetentionPolicy.KeepForever;

    /// <summary>How often the retention policy is applied to the owned logs. Default 5 min.</summary>
    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Most record bytes a log's shared read-ahead cache keeps (one per log being read through this proxy): readers of a log
    /// within this window of its newest records are served from one reader of the bookies; one that falls further behind
    /// reads on its own until it catches up. A log being read keeps up to this much of its newest records. Default 4 MiB.
    /// </summary>
    public long ReadCacheBytes { get; init; } = 4L << 20;

    /// <summary>Checks the settings; returns what is wrong, or nothing.</summary>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (ReadCacheBytes < 64 * 1024)
        {
            errors.Add($"Read cache size {ReadCacheBytes} bytes must be at least 64 KiB.");
        }

        errors.AddRange(Retention.GetValidationErrors());
        if (RetentionCheckInterval <= TimeSpan.Zero)
        {
            errors.Add($"Retention check interval {RetentionCheckInterval} must be positive.");
        }

        if (Port is < 0 or > 65535)
        {
            errors.Add($"Port {Port} is outside 0..65535.");
        }

        if (AdminPort is < -1 or > 65535)
        {
            errors.Add($"Admin port {AdminPort} is outside -1..65535.");
        }

        if (!System.Net.IPAddress.TryParse(Host, out _))
        {
            errors.Add($"Host '{Host}' is not an IP address.");
        }

        if (AdvertisedEndpoint is not null && !Uri.TryCreate(AdvertisedEndpoint, UriKind.Absolute, out _))
        {
            errors.Add($"Advertised endpoint '{AdvertisedEndpoint}' is not an absolute URL.");
        }

        if (OwnershipTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Ownership TTL {OwnershipTtl} is below one second.");
        }

        if (MaxMessageSize < Protocol.Records.LogRecord.MaxRecordSize + (64 << 10))
        {
            errors.Add($"Max message size {MaxMessageSize} is below one record of the largest size plus framing ({Protocol.Records.LogRecord.MaxRecordSize + (64 << 10)} bytes).");
        }

        if (MaxLogs < 1)
        {
            errors.Add($"Max logs {MaxLogs} must be at least 1.");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Request timeout {RequestTimeout} must be positive.");
        }

        errors.AddRange(PerLogLimits.GetValidationErrors("per-log"));
        errors.AddRange(PerProxyLimits.GetValidationErrors("per-proxy"));
        return errors;
    }
}

/// <summary>
/// Request and byte rates. A soft limit only counts (the <c>dl.proxy.limit.soft_exceeded</c> metric); a hard limit
/// rejects with OVER_CAPACITY (517). Zero means no limit.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>Requests (records) per second above which the soft-limit metric counts.</summary>
    public long SoftRequestsPerSecond { get; init; }

    /// <summary>Requests (records) per second above which requests are rejected.</summary>
    public long HardRequestsPerSecond { get; init; }

    /// <summary>Payload bytes per second above which the soft-limit metric counts.</summary>
    public long SoftBytesPerSecond { get; init; }

    /// <summary>Payload bytes per second above which requests are rejected.</summary>
    public long HardBytesPerSecond { get; init; }

    internal bool IsUnlimited => SoftRequestsPerSecond == 0 && HardRequestsPerSecond == 0 && SoftBytesPerSecond == 0 && HardBytesPerSecond == 0;

    internal IEnumerable<string> GetValidationErrors(string scope)
    {
        if (SoftRequestsPerSecond < 0 || HardRequestsPerSecond < 0 || SoftBytesPerSecond < 0 || HardBytesPerSecond < 0)
        {
            yield return $"The {scope} limits must not be negative.";
        }
    }
}
