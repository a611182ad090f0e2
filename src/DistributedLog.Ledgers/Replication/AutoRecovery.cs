using System.Diagnostics.Metrics;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Ledgers.Replication;

/// <summary>
/// Auto-recovery as a bookie process runs it by default (BookKeeper's auto-recovery daemon inside the bookie): an auditor
/// candidate and a replication worker over the cluster's metadata store, with their own ledger client.
/// </summary>
public sealed class AutoRecovery : IAsyncDisposable
{
    private readonly MetadataBookieRegistry _registry;
    private readonly LedgerClient _client;
    private readonly ReplicationMetrics _metrics;

    private AutoRecovery(MetadataBookieRegistry registry, LedgerClient client, ReplicationMetrics metrics, Auditor? auditor, ReplicationWorker? worker)
    {
        _registry = registry;
        _client = client;
        _metrics = metrics;
        Auditor = auditor;
        Worker = worker;
    }

    /// <summary>The auditor candidate, unless turned off.</summary>
    public Auditor? Auditor { get; }

    /// <summary>The replication worker, unless turned off.</summary>
    public ReplicationWorker? Worker { get; }

    /// <summary>Starts auto-recovery over <paramref name="store"/> (not owned).</summary>
    public static async Task<AutoRecovery> StartAsync(IMetadataStore store, AutoRecoveryOptions options, LedgerClientOptions? clientOptions = null,
        ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        var registry = await MetadataBookieRegistry.StartAsync(store, loggerFactory, cancellationToken);
        var client = new LedgerClient(new MetadataLedgerStore(store), registry, clientOptions ?? new LedgerClientOptions { LoggerFactory = loggerFactory });
        var metrics = new ReplicationMetrics(meterFactory);
        var state = new UnderReplicationStore(store, options.TimeProvider);
        var auditor = options.RunAuditor ? new Auditor(client, state, options, loggerFactory.CreateLogger<Auditor>(), metrics) : null;
        var worker = options.RunWorker ? new ReplicationWorker(client, state, options, loggerFactory.CreateLogger<ReplicationWorker>(), metrics) : null;
        auditor?.Start();
        worker?.Start();
        return new AutoRecovery(registry, client, metrics, auditor, worker);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Worker is not null)
        {
            await Worker.DisposeAsync();
        }

        if (Auditor is not null)
        {
            await Auditor.DisposeAsync();
        }

        await _client.DisposeAsync();
        await _registry.DisposeAsync();
        _metrics.Dispose();
    }
}
