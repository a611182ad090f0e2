using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Client;

/// <summary>Settings of a <see cref="BookieClient"/>.</summary>
public sealed class BookieClientOptions
{
    /// <summary>How long connecting (and the handshake) may take. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a request may wait for its response before it fails with <c>Timeout</c>. Default 10 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Most requests in flight on one connection; more wait. Default 16 384.</summary>
    public int MaxInflightPerConnection { get; init; } = 16_384;

    /// <summary>After a failed connection attempt, requests fail fast for this long before the next attempt. Default 200 ms.</summary>
    public TimeSpan ReconnectBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Logging.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
