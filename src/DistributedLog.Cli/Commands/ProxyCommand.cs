using System.CommandLine;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Writers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Commands;

/// <summary><c>dlog proxy</c>: runs a write proxy (the stateless service tier) until SIGINT/SIGTERM, then drains.</summary>
internal static class ProxyCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port to serve gRPC on (0 picks a free one).", DefaultValueFactory = _ => 7000 };
        var adminPort = new Option<int>("--admin-port") { Description = "HTTP port of /metrics and /healthz (0 picks a free one, -1 turns it off).", DefaultValueFactory = _ => 0 };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var metadata = new Option<string>("--metadata") { Description = "Metadata store of the cluster: etcd://host:port[/root].", Required = true };
        var ns = new Option<string>("--namespace") { Description = "Namespace served.", DefaultValueFactory = _ => "default" };
        var advertise = new Option<string?>("--advertise") { Description = "Endpoint clients and other proxies use to reach this one (default http://<host>:<port>)." };
        var ttl = new Option<double>("--ownership-ttl-seconds") { Description = "Lease TTL of the logs this proxy owns (how soon they move after it dies).", DefaultValueFactory = _ => 10 };
        var maxLogs = new Option<int>("--max-logs") { Description = "Most logs owned at once.", DefaultValueFactory = _ => 10_000 };
        var idle = new Option<double>("--idle-log-seconds") { Description = "Release a log after this long without requests.", DefaultValueFactory = _ => 600 };
        var timeout = new Option<double>("--request-timeout-seconds") { Description = "Timeout of one request.", DefaultValueFactory = _ => 30 };
        var logRps = new Option<long>("--log-max-rps") { Description = "Hard limit of records per second per log (0: none).", DefaultValueFactory = _ => 0 };
        var logBps = new Option<long>("--log-max-bps") { Description = "Hard limit of payload bytes per second per log (0: none).", DefaultValueFactory = _ => 0 };
        var proxyRps = new Option<long>("--proxy-max-rps") { Description = "Hard limit of records per second for the proxy (0: none).", DefaultValueFactory = _ => 0 };
        var proxyBps = new Option<long>("--proxy-max-bps") { Description = "Hard limit of payload bytes per second for the proxy (0: none).", DefaultValueFactory = _ => 0 };
        var softLogRps = new Option<long>("--log-soft-rps") { Description = "Soft limit (metric only) of records per second per log.", DefaultValueFactory = _ => 0 };
        var softProxyRps = new Option<long>("--proxy-soft-rps") { Description = "Soft limit (metric only) of records per second for the proxy.", DefaultValueFactory = _ => 0 };
        var ensemble = new Option<int>("--ensemble-size") { Description = "Ensemble size of each segment's ledger.", DefaultValueFactory = _ => 3 };
        var writeQuorum = new Option<int>("--write-quorum") { Description = "Write quorum of each segment's ledger.", DefaultValueFactory = _ => 3 };
        var ackQuorum = new Option<int>("--ack-quorum") { Description = "Ack quorum of each segment's ledger.", DefaultValueFactory = _ => 2 };
        var segmentBytes = new Option<long>("--max-segment-bytes") { Description = "Roll to a new segment once one holds this many bytes.", DefaultValueFactory = _ => 256L << 20 };
        var minRacks = PlacementOptions.MinRacks();
        var minRegions = PlacementOptions.MinRegions();
        var rack = PlacementOptions.ClientRack();
        var keepAlive = new Option<double>("--keepalive-seconds")
        {
            Description = "An owned log with nothing written for this long gets a keep-alive control record, so tailing readers know its writer is alive; 0 turns it off.",
            DefaultValueFactory = _ => 5,
        };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level.", DefaultValueFactory = _ => LogLevel.Information };
        var json = ClientOptions.Json();
        var retention = new RetentionFlags();
        var command = new Command("proxy", "Run a write proxy until interrupted.")
        {
            port, adminPort, host, metadata, ns, advertise, ttl, maxLogs, idle, timeout, logRps, logBps, proxyRps, proxyBps, softLogRps, softProxyRps,
            ensemble, writeQuorum, ackQuorum, segmentBytes, minRacks, minRegions, rack, keepAlive, logLevel, json,
        };
        foreach (var option in retention.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            using var loggerFactory = ServerRun.Logging(result.GetValue(logLevel));
            var (retentionPolicy, retentionCheck) = retention.Parse(result);
            double keepAliveSeconds = result.GetValue(keepAlive);
            if (!(keepAliveSeconds >= 0) || !double.IsFinite(keepAliveSeconds))
            {
                throw new ArgumentException($"--keepalive-seconds must be 0 (off) or a positive number of seconds (got {keepAliveSeconds}).");
            }

            var options = new ProxyOptions
            {
                Retention = retentionPolicy,
                RetentionCheckInterval = retentionCheck,
                Host = result.GetValue(host)!,
                Port = result.GetValue(port),
                AdminPort = result.GetValue(adminPort),
                Namespace = result.GetValue(ns)!,
                AdvertisedEndpoint = result.GetValue(advertise),
                OwnershipTtl = Seconds(result.GetValue(ttl), "--ownership-ttl-seconds"),
                MaxLogs = result.GetValue(maxLogs),
                IdleLogTimeout = Seconds(result.GetValue(idle), "--idle-log-seconds"),
                RequestTimeout = Seconds(result.GetValue(timeout), "--request-timeout-seconds"),
                PerLogLimits = new RateLimitOptions
                {
                    HardRequestsPerSecond = result.GetValue(logRps),
                    HardBytesPerSecond = result.GetValue(logBps),
                    SoftRequestsPerSecond = result.GetValue(softLogRps),
                },
                PerProxyLimits = new RateLimitOptions
                {
                    HardRequestsPerSecond = result.GetValue(proxyRps),
                    HardBytesPerSecond = result.GetValue(proxyBps),
                    SoftRequestsPerSecond = result.GetValue(softProxyRps),
                },
                Writer = new LogWriterOptions
                {
                    EnsembleSize = result.GetValue(ensemble),
                    WriteQuorumSize = result.GetValue(writeQuorum),
                    AckQuorumSize = result.GetValue(ackQuorum),
                    MaxSegmentBytes = result.GetValue(segmentBytes),
                    KeepAliveInterval = keepAliveSeconds > 0 ? TimeSpan.FromSeconds(keepAliveSeconds) : null,
                },
                Ledgers = PlacementOptions.LedgerClient(result.GetValue(minRacks), result.GetValue(minRegions), result.GetValue(rack), loggerFactory),
            };

            var (stop, sigterm) = ServerRun.StopSignal(cancellationToken);
            using (stop)
            using (sigterm)
            try
            {
                await using var proxy = await ProxyHost.StartAsync(options, result.GetValue(metadata)!, loggerFactory, stop.Token);
                ServerRun.PrintReady(result.GetValue(json),
                    $"proxy {proxy.Endpoint} ready (namespace {options.Namespace}, metrics {(proxy.AdminEndpoint is { } admin ? admin + "/metrics" : "off")})", w =>
                    {
                        w.WriteString("endpoint", proxy.Endpoint);
                        w.WriteString("namespace", options.Namespace);
                        if (proxy.AdminEndpoint is { } metrics)
                        {
                            w.WriteString("metrics", metrics + "/metrics");
                        }
                    });
                await ServerRun.WaitAsync(stop.Token);
                Console.WriteLine($"proxy {proxy.Endpoint} stopping");
            }

            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Told to stop while starting (e.g. still waiting for the metadata store): a clean stop.
                Console.WriteLine("proxy stopped while starting");
            }

            return 0;
        }));
        return command;
    }

    private static TimeSpan Seconds(double value, string option) =>
        value > 0 && double.IsFinite(value) ? TimeSpan.FromSeconds(value) : throw new ArgumentException($"{option} must be a positive number of seconds (got {value}).");
}
