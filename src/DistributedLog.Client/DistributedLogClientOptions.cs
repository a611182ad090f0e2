using Microsoft.Extensions.Logging;

namespace DistributedLog.Client;

/// <summary>Settings of a <see cref="DistributedLogClient"/>.</summary>
public sealed class DistributedLogClientOptions
{
    /// <summary>
    /// Proxy endpoints to start from (e.g. <c>http://127.0.0.1:7000</c>). The client learns the others from them
    /// (<c>ListProxies</c>) unless <see cref="DiscoverProxies"/> is off. Either this or <see cref="MetadataUri"/> is needed.
    /// </summary>
    public IReadOnlyList<string> Endpoints { get; init; } = [];

    /// <summary>
    /// Discover proxies from the metadata store instead (<c>etcd://host:port/root</c> or <c>file:///…/meta.db</c>): the
    /// proxies' lease-bound registrations under the namespace.
    /// </summary>
    public string? MetadataUri { get; init; }

    /// <summary>The namespace whose proxies are discovered from <see cref="MetadataUri"/>. Default "default".</summary>
    public string Namespace { get; init; } = "default";

    /// <summary>Ask the known proxies for the others, and refresh the list every <see cref="DiscoveryInterval"/>. Default true.</summary>
    public bool DiscoverProxies { get; init; } = true;

    /// <summary>How often the proxy list is refreshed. Default 30 s.</summary>
    public TimeSpan DiscoveryInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of one call to a proxy. Default 30 s.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long an operation keeps retrying what is safe to retry (redirects, a proxy that is unreachable or draining, a
    /// log whose previous owner's lease has not expired yet). Default 30 s.
    /// </summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First pause between retries (doubling up to <see cref="MaxBackoff"/>). Default 20 ms.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Longest pause between retries. Default 1 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a proxy that could not be reached is avoided before it is tried again. Default 2 s.</summary>
    public TimeSpan DownProxyQuarantine { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Fail at once, instead of retrying within <see cref="RetryBudget"/>, when a proxy cannot be reached and every known
    /// proxy is unreachable (what a command-line tool wants; a service riding out a proxy restart does not). Default false.
    /// </summary>
    public bool FailFastWhenNoProxyReachable { get; init; }

    /// <summary>Compute and send a CRC32C of each payload, which the proxy verifies. Default true.</summary>
    public bool SendChecksums { get; init; } = true;

    /// <summary>Loggers for the client's diagnostics.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    internal void Validate()
    {
        if (Endpoints.Count == 0 && MetadataUri is null)
        {
            throw new ArgumentException("Give the client at least one proxy endpoint or a metadata URI to discover proxies from.");
        }

        foreach (string endpoint in Endpoints)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"Proxy endpoint '{endpoint}' is not an http:// or https:// URL.");
            }
        }

        if (CallTimeout <= TimeSpan.Zero || RetryBudget < TimeSpan.Zero || InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            throw new ArgumentException("The client's timeouts must be positive (and the max backoff at least the initial one).");
        }
    }
}
