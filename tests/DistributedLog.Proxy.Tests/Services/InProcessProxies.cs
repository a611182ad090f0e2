using DistributedLog.Client;
using DistributedLog.Grpc.V1;
using DistributedLog.Namespaces;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Testing;
using Grpc.Net.Client;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>
/// Two write proxies in the test process, each with its own namespace client (its own ownership lease) over one
/// in-process cluster of three bookies and the embedded metadata store: enough to see ownership, redirects and
/// failover without process start-up costs.
/// </summary>
internal sealed class InProcessProxies : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<GrpcChannel> _channels = [];

    private InProcessProxies(InProcessCluster cluster) => Cluster = cluster;

    public InProcessCluster Cluster { get; }

    public ProxyHost A { get; private set; } = null!;

    public ProxyHost B { get; private set; } = null!;

    public DistributedLogNamespace Namespace { get; private set; } = null!;

    public static async Task<InProcessProxies> StartAsync(Func<ProxyOptions>? optionsA = null, Func<ProxyOptions>? optionsB = null, string? metadataUri = null)
    {
        var cluster = await InProcessCluster.StartAsync(3, metadataUri: metadataUri);
        var proxies = new InProcessProxies(cluster);
        try
        {
            proxies.Namespace = DistributedLogNamespace.Create(cluster.Store, cluster.Client);
            proxies._owned.Add(proxies.Namespace);
            proxies.A = await proxies.StartProxyAsync(optionsA?.Invoke() ?? Options());
            proxies.B = await proxies.StartProxyAsync(optionsB?.Invoke() ?? Options());
            return proxies;
        }
        catch
        {
            await proxies.DisposeAsync();
            throw;
        }
    }

    /// <summary>The settings tests start from: a free port, a short ownership TTL.</summary>
    public static ProxyOptions Options(int maxLogs = 10_000, RateLimitOptions? perLog = null, RateLimitOptions? perProxy = null,
        long readCacheBytes = 4L << 20) => new()
    {
        ReadCacheBytes = readCacheBytes,
        Port = 0,
        OwnershipTtl = TimeSpan.FromSeconds(2),
        MaxLogs = maxLogs,
        PerLogLimits = perLog ?? new RateLimitOptions(),
        PerProxyLimits = perProxy ?? new RateLimitOptions(),
    };

    public async Task<ProxyHost> StartProxyAsync(ProxyOptions options)
    {
        var ns = DistributedLogNamespace.Create(Cluster.Store, Cluster.Client, loggerFactory: DiagnosticLog.Factory);
        _owned.Add(ns);
        var proxy = await ProxyHost.StartAsync(options, ns, DiagnosticLog.Factory);
        _owned.Add(proxy);
        return proxy;
    }

    /// <summary>A client that starts from <paramref name="endpoints"/> (discovering the others unless told not to).</summary>
    public DistributedLogClient Client(bool discover, params string[] endpoints)
    {
        var client = DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = endpoints,
            DiscoverProxies = discover,
            RetryBudget = TimeSpan.FromSeconds(20),
        });
        _owned.Add(client);
        return client;
    }

    /// <summary>The raw gRPC client of one proxy (no routing, no retries).</summary>
    public DistributedLogProxy.DistributedLogProxyClient Raw(ProxyHost proxy)
    {
        var channel = GrpcChannel.ForAddress(proxy.Endpoint);
        _channels.Add(channel);
        return new DistributedLogProxy.DistributedLogProxyClient(channel);
    }

    public GrpcChannel Channel(ProxyHost proxy)
    {
        var channel = GrpcChannel.ForAddress(proxy.Endpoint);
        _channels.Add(channel);
        return channel;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        await Cluster.DisposeAsync();
    }
}
