using System.Text;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Replication;

/// <summary>
/// The auditor (BookKeeper's <c>Auditor</c>): exactly one per cluster, elected through a lease-bound key
/// (<see cref="UnderReplicationStore.AuditorKey"/>; when its process dies the key vanishes with the lease and another
/// candidate takes over). It looks at the bookie registrations every tick; a bookie of the cluster (it has a cookie) that
/// has been unregistered for longer than <see cref="AutoRecoveryOptions.LostBookieDelay"/> is lost, and every ledger
/// with a fragment on it is marked under-replicated. It does not mistake a metadata-store outage for lost bookies: a
/// failed look, or a look that finds no bookie registered at all (an etcd stall expired every lease), restarts every
/// bookie's clock, so nothing is marked until bookies have had the whole delay to register again; a newly elected
/// auditor starts every clock at its election. Every <see cref="AutoRecoveryOptions.CheckInterval"/> it also runs the
/// full check (<see cref="ClusterAudit.RunAsync"/>).
/// </summary>
public sealed partial class Auditor : IAsyncDisposable
{
    private readonly UnderReplicationStore _state;
    private readonly ClusterAudit _audit;
    private readonly AutoRecoveryOptions _options;
    private readonly ReplicationMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private volatile bool _elected;

    /// <summary>Creates a candidate (not started).</summary>
    public Auditor(LedgerClient client, UnderReplicationStore state, AutoRecoveryOptions options, ILogger logger, ReplicationMetrics? metrics = null)
    {
        _state = state;
        _options = options;
        _logger = logger;
        _metrics = metrics;
        _audit = new ClusterAudit(client, state, logger);
    }

    /// <summary>Whether this candidate is the auditor now.</summary>
    public bool IsAuditor => _elected;

    /// <summary>Starts standing for election, and auditing once elected.</summary>
    public void Start() => _loop = RunAsync();

    private async Task RunAsync()
    {
        var time = _options.TimeProvider;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await using var lease = await _state.Store.GrantLeaseAsync(_options.LeaseTtl, _stopping.Token);
                var elected = await _state.Store.CommitAsync(new MetadataTransaction().IfAbsent(UnderReplicationStore.AuditorKey)
                    .Put(UnderReplicationStore.AuditorKey, Encoding.UTF8.GetBytes(_options.Identity), lease.Id), _stopping.Token);
                if (elected.Succeeded)
                {
                    _elected = true;
                    LogElected(_options.Identity);
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, lease.Lost);
                    try
                    {
                        await AuditAsync(linked.Token);
                    }
                    catch (OperationCanceledException) when (lease.Lost.IsCancellationRequested && !_stopping.IsCancellationRequested)
                    {
                        LogLostElection(_options.Identity);
                    }
                    finally
                    {
                        _elected = false;
                    }

                    if (!_stopping.IsCancellationRequested)
                    {
                        continue;
                    }

                    // Stepping down on purpose: free the key at once so another candidate need not wait for the lease to expire.
                    await _state.Store.RevokeLeaseAsync(lease.Id, CancellationToken.None);
                    return;
                }
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                // Stopping: whatever failed on the way out (the store may be gone too, e.g. a revoke or grant that found
                // etcd down) ends the candidacy quietly; the lease expires on its own.
                return;
            }
            catch (Exception e)
            {
                // Whatever failed (the store, a bug), this candidate stands again rather than leaving the cluster without one.
                LogElectionFailed($"{e.GetType().Name}: {e.Message}");
            }

            try
            {
                await Task.Delay(_options.AuditorTick, time, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The auditor's loop while elected.</summary>
    private async Task AuditAsync(CancellationToken cancellationToken)
    {
        var time = _options.TimeProvider;
        var missingSince = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var markedLost = new HashSet<string>(StringComparer.Ordinal);
        var nextCheck = _options.CheckInterval > TimeSpan.Zero ? time.GetUtcNow() + _options.CheckInterval : DateTimeOffset.MaxValue;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var now = time.GetUtcNow();
            try
            {
                var registered = await _audit.RegisteredBookiesAsync(cancellationToken);
                var known = await _audit.KnownBookiesAsync(cancellationToken);
                if (registered.Count == 0)
                {
                    // No bookie registered at all: the registrations' leases expired together (an etcd stall), not every
                    // bookie died at once. Start every clock again.
                    if (missingSince.Count > 0)
                    {
                        LogAllRegistrationsGone();
                    }

                    missingSince.Clear();
                }
                else
                {
                    foreach (string bookie in registered)
                    {
                        missingSince.Remove(bookie);
                        markedLost.Remove(bookie);
                    }

                    foreach (string bookie in known.Where(b => !registered.Contains(b)))
                    {
                        missingSince.TryAdd(bookie, now);
                    }

                    foreach (string bookie in missingSince.Keys.Where(b => !known.Contains(b)).ToList())
                    {
                        missingSince.Remove(bookie); // decommissioned (its cookie removed)
                    }

                    var lost = missingSince.Where(m => now - m.Value >= _options.LostBookieDelay && !markedLost.Contains(m.Key))
                        .Select(m => m.Key).ToHashSet(StringComparer.Ordinal);
                    if (lost.Count > 0)
                    {
                        long marked = await _audit.MarkLedgersOfAsync(lost, ReplicaLoss.Lost, cancellationToken);
                        markedLost.UnionWith(lost);
                        LogBookiesLost(string.Join(", ", lost), marked);
                    }
                }

                if (now >= nextCheck)
                {
                    var allLost = missingSince.Where(m => now - m.Value >= _options.LostBookieDelay).Select(m => m.Key).ToHashSet(StringComparer.Ordinal);
                    var report = await _audit.RunAsync(allLost, checkFragments: true, _options.VerifyEntries, cancellationToken);
                    nextCheck = now + _options.CheckInterval;
                    LogCheckDone(report.Ledgers, report.UnderReplicated, report.BadFragments);
                }

                _metrics?.Observed((await _state.ListAsync(cancellationToken)).Count, markedLost.Count);
            }
            catch (Exception e) when (e is DlException or TimeoutException or IOException && !cancellationToken.IsCancellationRequested)
            {
                // The metadata store did not answer: what it would have said is unknown, so no bookie counts as gone for it.
                LogLookFailed(e.Message);
                missingSince.Clear();
            }

            await Task.Delay(_options.AuditorTick, time, cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is the auditor now")]
    private partial void LogElected(string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the auditor election (its lease expired); standing again")]
    private partial void LogLostElection(string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Standing for auditor failed ({Error}); trying again")]
    private partial void LogElectionFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bookies lost: {Bookies}; {Ledgers} ledgers marked under-replicated")]
    private partial void LogBookiesLost(string bookies, long ledgers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No bookie is registered at all: taken for a metadata-store outage, not for lost bookies; every bookie's clock starts again")]
    private partial void LogAllRegistrationsGone();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The auditor could not read the registrations ({Error}); no bookie counts as gone meanwhile")]
    private partial void LogLookFailed(string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Periodic check: {Ledgers} ledgers, {UnderReplicated} under-replicated, {BadFragments} fragments missing entries")]
    private partial void LogCheckDone(long ledgers, long underReplicated, long badFragments);
}
