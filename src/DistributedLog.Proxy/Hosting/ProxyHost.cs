using System.Diagnostics.Metrics;
using System.Net;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Proxy.Limits;
using DistributedLog.Proxy.Ownership;
using DistributedLog.Proxy.Reads;
using DistributedLog.Proxy.Registration;
using DistributedLog.Proxy.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Metrics;

namespace DistributedLog.Proxy.Hosting;

/// <summary>
/// A running write proxy: Kestrel serving the gRPC service (plus gRPC health and reflection) and, on a second
/// port over HTTP/1.1, <c>/metrics</c> (Prometheus) and <c>/healthz</c>. It registers under a lease so clients find it; stopping
/// it drains (closes every owned log so other proxies can take them) before it deregisters.
/// </summary>
public sealed class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LogOwnershipCache _ownership;
    private readonly ProxyMetrics _metrics;
    private readonly ReadFanout _reads;
    private readonly ProxyRegistration _registration;
    private readonly DistributedLogNamespace _namespace;
    private readonly bool _ownsNamespace;
    private int _disposed;

    private ProxyHost(WebApplication app, LogOwnershipCache ownership, ProxyMetrics metrics, ReadFanout reads, ProxyRegistration registration,
        DistributedLogNamespace ns, bool ownsNamespace, string endpoint)
    {
        _app = app;
        _ownership = ownership;
        _metrics = metrics;
        _reads = reads;
        _registration = registration;
        _namespace = ns;
        _ownsNamespace = ownsNamespace;
        Endpoint = endpoint;
    }

    /// <summary>The gRPC service name of the proxy (<c>distributedlog.v1.DistributedLogProxy</c>), as health probes name it.</summary>
    public static string ServiceName => Grpc.V1.DistributedLogProxy.Descriptor.FullName;

    /// <summary>Largest response message: a read response packs up to 4 MiB of records, or one record alone (at most 1 MiB).</summary>
    private const int MaxSendMessageSize = 16 << 20;

    /// <summary>The endpoint this proxy advertises (<c>http://host:port</c>).</summary>
    public string Endpoint { get; }

    /// <summary>The HTTP/1.1 endpoint serving <c>/metrics</c> and <c>/healthz</c>, or null when turned off.</summary>
    public string? AdminEndpoint { get; private init; }

    /// <summary>Logs this proxy owns now.</summary>
    public int OwnedLogs => _ownership.Count;

    /// <summary>The read fan-out (one shared reader and cache per log being read); tests read its counts.</summary>
    internal ReadFanout Reads => _reads;

    /// <summary>Starts a proxy over a namespace opened from <paramref name="metadataUri"/> (owned by the proxy).</summary>
    public static async Task<ProxyHost> StartAsync(ProxyOptions options, string metadataUri, ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        // A server waits for its metadata store at start (retrying with back-off) instead of exiting.
        var ns = await MetadataStartup.WaitAsync($"Proxy: opening namespace '{options.Namespace}' in {MetadataStores.Redact(metadataUri)}",
            async ct => await DistributedLogNamespace.OpenAsync(metadataUri, options.Namespace, options.Ledgers, loggerFactory, ct),
            loggerFactory.CreateLogger("DistributedLog.Proxy"), cancellationToken: cancellationToken);
        try
        {
            return await StartAsync(options, ns, ownsNamespace: true, loggerFactory, cancellationToken);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a proxy over an open namespace (not disposed with the proxy).</summary>
    public static Task<ProxyHost> StartAsync(ProxyOptions options, DistributedLogNamespace ns, ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default) =>
        StartAsync(options, ns, ownsNamespace: false, loggerFactory ?? NullLoggerFactory.Instance, cancellationToken);

    private static async Task<ProxyHost> StartAsync(ProxyOptions options, DistributedLogNamespace ns, bool ownsNamespace, ILoggerFactory loggerFactory,
        CancellationToken cancellationToken)
    {
        var errors = options.GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid proxy settings: " + string.Join(" ", errors));
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILoggerFactory>(new FrameworkLoggerFactory(loggerFactory));
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        ListenOptions? grpcListen = null;
        ListenOptions? adminListen = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Parse(options.Host), options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                grpcListen = listen;
            });
            if (options.AdminPort >= 0)
            {
                kestrel.Listen(IPAddress.Parse(options.Host), options.AdminPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    adminListen = listen;
                });
            }
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxMessageSize;
            grpc.MaxSendMessageSize = MaxSendMessageSize;
        });
        builder.Services.AddSingleton<global::Grpc.AspNetCore.Server.Model.IServiceMethodProvider<ProxyEndpoint>, ProxyEndpointMethodProvider>();
        builder.Services.AddSingleton<ProxyEndpoint>();
        // Reflection lists the services it finds through their generated base class; the proxy service is mapped through
        // ProxyEndpoint (guarded marshallers), so the descriptors are given here (registered first: AddGrpcReflection only
        // adds its own when none is).
        Google.Protobuf.Reflection.ServiceDescriptor[] descriptors =
        [
            Grpc.V1.DistributedLogProxy.Descriptor,
            global::Grpc.Health.V1.Health.Descriptor,
            global::Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
            global::Grpc.Reflection.V1.ServerReflection.Descriptor,
        ];
        builder.Services.AddSingleton(new global::Grpc.Reflection.ReflectionServiceImpl(descriptors));
        builder.Services.AddSingleton(new global::Grpc.Reflection.ReflectionV1ServiceImpl(descriptors));
        builder.Services.AddGrpcReflection();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ProxyMetrics.MeterName, "DistributedLog.Bookie")
            .AddPrometheusExporter());
        // The ownership cache needs the bound endpoint, known only after Kestrel starts: the service resolves it lazily.
        var holder = new OwnershipHolder();

        // Health answers for the whole server ("") and for the proxy service by name (probes that name it); a draining
        // proxy answers NOT_SERVING so balancers stop sending it requests before it stops.
        builder.Services.AddGrpcHealthChecks(health =>
            {
                health.Services.Map("", _ => true);
                health.Services.Map(ServiceName, _ => true);
            })
            .AddCheck("proxy", () => holder.Cache is { IsDraining: false }
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy(holder.Cache is null ? "starting" : "draining"));
        var metrics = new ProxyMetrics(null, () => holder.Cache?.Count ?? 0);
        var proxyLimiter = new RateLimiter(options.PerProxyLimits, "per-proxy", metrics, TimeProvider.System);
        builder.Services.AddSingleton(ns);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(proxyLimiter);
        var reads = new ReadFanout(options.ReadCacheBytes, metrics, TimeProvider.System, loggerFactory.CreateLogger("DistributedLog.Proxy.Reads"));
        builder.Services.AddSingleton(reads);
        builder.Services.AddSingleton(_ => holder.Cache ?? throw new InvalidOperationException("The proxy is not started."));
        builder.Services.AddSingleton<DistributedLogProxyService>();

        var app = builder.Build();
        app.MapGrpcService<ProxyEndpoint>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        if (options.AdminPort >= 0)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
            app.MapGet("/healthz", () => holder.Cache is { IsDraining: false } ? Results.Text("ok") : Results.StatusCode(503));
        }

        await app.StartAsync(cancellationToken);
        try
        {
            int port = grpcListen!.IPEndPoint!.Port;
            string? admin = adminListen is null ? null : $"http://{options.Host}:{adminListen.IPEndPoint!.Port}";
            string endpoint = options.AdvertisedEndpoint ?? $"http://{options.Host}:{port}";
            var logger = loggerFactory.CreateLogger("DistributedLog.Proxy");
            holder.Cache = new LogOwnershipCache(ns, options, endpoint, metrics, TimeProvider.System, logger);
            var registration = await MetadataStartup.WaitAsync($"Proxy {endpoint}: registering",
                ct => ProxyRegistration.StartAsync(ns.Store, ns.Metadata.Layout, endpoint, options.OwnershipTtl, logger, ct),
                logger, cancellationToken: cancellationToken);
            logger.LogInformation("Proxy {Endpoint} serving namespace {Namespace}", endpoint, options.Namespace);
            return new ProxyHost(app, holder.Cache, metrics, reads, registration, ns, ownsNamespace, endpoint) { AdminEndpoint = admin };
        }
        catch
        {
            if (holder.Cache is not null)
            {
                await holder.Cache.DisposeAsync();
            }

            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            await reads.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts draining without stopping: health answers NOT_SERVING, no new log is acquired (writes for logs not owned
    /// answer SERVICE_UNAVAILABLE, so clients go elsewhere) and every owned log is closed and released. Reads and
    /// metadata calls are still served. <see cref="DisposeAsync"/> drains too.
    /// </summary>
    public Task DrainAsync() => _ownership.DrainAsync();

    /// <summary>Drains (closes and releases every owned log), deregisters, and stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _ownership.DrainAsync();
        await _registration.DisposeAsync();
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(grace.Token);
        }

        await _ownership.DisposeAsync();
        await _app.DisposeAsync();
        await _reads.DisposeAsync();
        _metrics.Dispose();
        if (_ownsNamespace)
        {
            await _namespace.DisposeAsync();
        }
    }

    private sealed class OwnershipHolder
    {
        public LogOwnershipCache? Cache { get; set; }
    }
}
