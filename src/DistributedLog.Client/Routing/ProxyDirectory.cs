using System.Collections.Concurrent;
using System.Net.Http;
using System.Text;
using DistributedLog.Grpc.V1;
using DistributedLog.Metadata;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Client.Routing;

/// <summary>
/// What the client knows of the proxies: their endpoints (seeds plus discovered ones) on a consistent-hash ring, one
/// gRPC channel each, which ones were unreachable lately, and which proxy owns which log (learned from redirects and
/// successful writes).
/// </summary>
internal sealed class ProxyDirectory : IAsyncDisposable
{
    private readonly DistributedLogClientOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DistributedLogProxy.DistributedLogProxyClient> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _downUntil = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _owners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private readonly object _ringGate = new();
    private IMetadataStore? _store;
    private ProxyRing _ring;
    private long _lastRefresh;

    public ProxyDirectory(DistributedLogClientOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _ring = new ProxyRing(options.Endpoints);
    }

    public IReadOnlyList<string> Endpoints => _ring.Endpoints;

    /// <summary>The endpoint to send a request for <paramref name="log"/> to: its known owner, else its place on the ring (skipping unreachable proxies).</summary>
    public string Route(string? log, string? avoid = null)
    {
        if (log is not null && _owners.TryGetValue(log, out string? owner) && owner != avoid && !IsDown(owner))
        {
            return owner;
        }

        string? fallback = null;
        foreach (string endpoint in _ring.Candidates(log ?? ""))
        {
            fallback ??= endpoint;
            if (endpoint != avoid && !IsDown(endpoint))
            {
                return endpoint;
            }
        }

        return fallback ?? throw new Protocol.Errors.DlException(Protocol.Errors.StatusCode.ServiceUnavailable,
            "No write proxy is known: none is registered in the metadata store.");
    }

    public DistributedLogProxy.DistributedLogProxyClient Client(string endpoint) =>
        _clients.GetOrAdd(endpoint, static (e, self) => new DistributedLogProxy.DistributedLogProxyClient(self.Channel(e)), this);

    public void SetOwner(string log, string endpoint)
    {
        _owners[log] = endpoint;
        if (!_ring.Endpoints.Contains(endpoint, StringComparer.Ordinal))
        {
            lock (_ringGate)
            {
                _ring = new ProxyRing([.. _ring.Endpoints, endpoint]);
            }
        }
    }

    public void ForgetOwner(string? log)
    {
        if (log is not null)
        {
            _owners.TryRemove(log, out _);
        }
    }

    public void MarkDown(string endpoint)
    {
        _downUntil[endpoint] = Environment.TickCount64 + (long)_options.DownProxyQuarantine.TotalMilliseconds;
        foreach (var (log, owner) in _owners)
        {
            if (owner == endpoint)
            {
                _owners.TryRemove(new KeyValuePair<string, string>(log, owner));
            }
        }
    }

    public bool IsDown(string endpoint) => _downUntil.TryGetValue(endpoint, out long until) && Environment.TickCount64 < until;

    /// <summary>Learns the current proxies (from the metadata store, or by asking a known proxy), at most once per discovery interval unless forced.</summary>
    public async Task RefreshAsync(bool force, CancellationToken cancellationToken)
    {
        if (!_options.DiscoverProxies && _options.MetadataUri is null)
        {
            return;
        }

        if (!force && Environment.TickCount64 - Volatile.Read(ref _lastRefresh) < _options.DiscoveryInterval.TotalMilliseconds && _ring.Endpoints.Count > 0)
        {
            return;
        }

        await _refreshGate.WaitAsync(cancellationToken);
        try
        {
            IReadOnlyList<string>? discovered = _options.MetadataUri is not null ? await FromMetadataAsync(cancellationToken) : await FromProxiesAsync(cancellationToken);
            Volatile.Write(ref _lastRefresh, Environment.TickCount64);
            if (discovered is { Count: > 0 })
            {
                var all = discovered.Union(_options.Endpoints, StringComparer.Ordinal).ToList();
                if (!all.Order(StringComparer.Ordinal).SequenceEqual(_ring.Endpoints, StringComparer.Ordinal))
                {
                    _logger.LogDebug("Proxies: {Proxies}", string.Join(", ", all));
                    _ring = new ProxyRing(all);
                }
            }
        }
        finally
        {
            _refreshGate.Release();
        }
    }

    private async Task<IReadOnlyList<string>> FromMetadataAsync(CancellationToken cancellationToken)
    {
        _store ??= await MetadataStores.OpenAsync(_options.MetadataUri!, cancellationToken: cancellationToken);

        // The proxies' lease-bound registrations: dl/<ns>/proxies/<endpoint>, value = endpoint.
        var listing = await _store.ListAsync(new Namespaces.NamespaceLayout(_options.Namespace).ProxiesPrefix, cancellationToken);
        return [.. listing.Select(v => Encoding.UTF8.GetString(v.Value.Span))];
    }

    private async Task<IReadOnlyList<string>?> FromProxiesAsync(CancellationToken cancellationToken)
    {
        foreach (string endpoint in _ring.Endpoints.Where(e => !IsDown(e)))
        {
            try
            {
                var response = await Client(endpoint).ListProxiesAsync(new ListProxiesRequest(),
                    deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: cancellationToken);
                if (response.Header is null || response.Header.Code == (int)Protocol.Errors.StatusCode.Success)
                {
                    return response.Endpoints;
                }
            }
            catch (global::Grpc.Core.RpcException e) when (e.StatusCode != global::Grpc.Core.StatusCode.Cancelled)
            {
                MarkDown(endpoint);
            }
        }

        return null;
    }

    private GrpcChannel Channel(string endpoint) => _channels.GetOrAdd(endpoint, static e => GrpcChannel.ForAddress(e, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(20),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        },
        MaxReceiveMessageSize = 64 << 20,
        MaxSendMessageSize = 64 << 20,
    }));

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _refreshGate.Dispose();
    }
}
