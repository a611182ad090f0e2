using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Replication;

/// <summary>What <see cref="ReplicationWorker.ProcessAsync"/> did with one marked ledger.</summary>
public enum ReplicationOutcome
{
    /// <summary>Every marked copy moved: the mark is gone.</summary>
    Replicated,
    /// <summary>Nothing to do (the ledger was deleted, or its marked bookies came back or hold no share any more): the mark is gone.</summary>
    NothingToDo,
    /// <summary>Another worker holds the ledger's lock.</summary>
    Locked,
    /// <summary>The ledger is open and its writer still has time to replace the bookie itself (the grace period).</summary>
    Deferred,
    /// <summary>Copies moved but the mark changed meanwhile (a bookie was added): it stays for another round.</summary>
    MarkChanged,
}

/// <summary>
/// A replication worker (BookKeeper's <c>ReplicationWorker</c>): takes under-replicated ledgers one at a time under a
/// lease-bound lock, fences an open ledger whose writer left a lost bookie in its current ensemble longer than the grace
/// period, copies the missing fragments (<see cref="LedgerFragmentReplicator"/>) and removes the mark. A worker that dies
/// mid-copy loses its lease, so its lock vanishes and the mark stays for another worker.
/// </summary>
public sealed partial class ReplicationWorker : IAsyncDisposable
{
    private readonly LedgerClient _client;
    private readonly UnderReplicationStore _state;
    private readonly LedgerFragmentReplicator _replicator;
    private readonly ReplicationMetrics? _metrics;
    private readonly AutoRecoveryOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _id;
    private Task _loop = Task.CompletedTask;
    private ILease? _lease;

    /// <summary>Creates a worker (not started).</summary>
    public ReplicationWorker(LedgerClient client, UnderReplicationStore state, AutoRecoveryOptions options, ILogger logger, ReplicationMetrics? metrics = null)
    {
        _client = client;
        _state = state;
        _options = options;
        _logger = logger;
        _metrics = metrics;
        _id = options.Identity;
        _replicator = new LedgerFragmentReplicator(client, state, logger, metrics);
    }

    private long _fragments;
    private long _entries;
    private long _bytes;

    /// <summary>Fragments this worker copied so far.</summary>
    public long FragmentsCopied => Interlocked.Read(ref _fragments);

    /// <summary>Entries this worker copied so far.</summary>
    public long EntriesCopied => Interlocked.Read(ref _entries);

    /// <summary>Bytes this worker copied so far.</summary>
    public long BytesCopied => Interlocked.Read(ref _bytes);

    /// <summary>Starts working through the marks in the background.</summary>
    public void Start() => _loop = RunAsync();

    private async Task RunAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(_stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRoundFailed(e.Message);
            }

            try
            {
                await Task.Delay(_options.WorkerPollInterval, _options.TimeProvider, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Looks at every mark once (oldest first) and works on those no other worker holds.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        int done = 0;
        foreach (var mark in (await _state.ListAsync(cancellationToken)).OrderBy(m => m.Ledger.MarkedAt))
        {
            try
            {
                var outcome = await ProcessAsync(mark.Ledger.LedgerId, cancellationToken);
                if (outcome is ReplicationOutcome.Replicated or ReplicationOutcome.NothingToDo)
                {
                    done++;
                }
            }
            catch (DlException e) when (!cancellationToken.IsCancellationRequested)
            {
                // This ledger cannot be repaired now (its replicas do not answer, no bookie can take a copy, an entry is
                // on no surviving replica): its mark stays, the others go on.
                LogLedgerFailed(mark.Ledger.LedgerId, e.Code, e.Message);
            }
        }

        return done;
    }

    /// <summary>Works on one marked ledger under its lock.</summary>
    public async Task<ReplicationOutcome> ProcessAsync(long ledgerId, CancellationToken cancellationToken)
    {
        var lease = await LeaseAsync(cancellationToken);
        if (!await _state.TryLockAsync(ledgerId, lease, _id, cancellationToken))
        {
            return ReplicationOutcome.Locked;
        }

        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
            return await ProcessLockedAsync(ledgerId, linked.Token);
        }
        finally
        {
            try
            {
                await _state.UnlockAsync(ledgerId, lease, CancellationToken.None);
            }
            catch (Exception e) when (e is DlException or OperationCanceledException)
            {
                LogUnlockFailed(ledgerId, e.Message); // the lock goes with the lease
            }
        }
    }

    private async Task<ReplicationOutcome> ProcessLockedAsync(long ledgerId, CancellationToken cancellationToken)
    {
        var mark = await _state.GetAsync(ledgerId, cancellationToken);
        if (mark is null)
        {
            return ReplicationOutcome.NothingToDo;
        }

        var metadata = await _client.MetadataStore.ReadAsync(ledgerId, cancellationToken);
        if (metadata is null)
        {
            await _state.CompleteAsync(ledgerId, mark.Version, cancellationToken);
            LogLedgerGone(ledgerId);
            return ReplicationOutcome.NothingToDo;
        }

        // A bookie marked lost that registered again still has its data (a wiped disk fails its cookie check): leave it.
        var registered = await ClusterAudit.BookieIdsAsync(_state.Store, DistributedLog.Bookie.Registration.BookieKeys.AvailablePrefix, cancellationToken);
        var replace = mark.Ledger.Bookies.Where(b => b.Value != ReplicaLoss.Lost || !registered.Contains(b.Key))
            .Where(b => metadata.Value.Ensembles.Any(s => s.Bookies.Contains(b.Key, StringComparer.Ordinal)))
            .ToDictionary(b => b.Key, b => b.Value, StringComparer.Ordinal);
        if (replace.Count == 0)
        {
            return await CompleteAsync(mark, ReplicationOutcome.NothingToDo, cancellationToken);
        }

        if (!metadata.Value.IsClosed && metadata.Value.CurrentEnsemble.Any(replace.ContainsKey))
        {
            var waited = _options.TimeProvider.GetUtcNow() - mark.Ledger.MarkedAt;
            if (waited < _options.OpenLedgerGracePeriod)
            {
                return ReplicationOutcome.Deferred;
            }

            // The writer had its chance to replace the bookie itself: fence and close the ledger so its last fragment is final.
            LogFencing(ledgerId, waited.TotalSeconds);
            await _client.OpenLedgerAsync(ledgerId, cancellationToken);
        }

        var result = await _replicator.ReplicateAsync(ledgerId, replace, cancellationToken);
        Interlocked.Add(ref _fragments, result.Fragments);
        Interlocked.Add(ref _entries, result.Entries);
        Interlocked.Add(ref _bytes, result.Bytes);
        if (!result.Complete)
        {
            // The ledger was reopened? Only a writer's open ledger has an open fragment: try again next round.
            return ReplicationOutcome.Deferred;
        }

        var outcome = await CompleteAsync(mark, ReplicationOutcome.Replicated, cancellationToken);
        if (outcome == ReplicationOutcome.Replicated)
        {
            _metrics?.LedgerReplicated(_options.TimeProvider.GetUtcNow() - mark.Ledger.MarkedAt);
            LogReplicated(ledgerId, result.Fragments, result.Entries, result.Bytes);
        }

        return outcome;
    }

    private async Task<ReplicationOutcome> CompleteAsync(UnderReplicationMark mark, ReplicationOutcome done, CancellationToken cancellationToken) =>
        await _state.CompleteAsync(mark.Ledger.LedgerId, mark.Version, cancellationToken) ? done : ReplicationOutcome.MarkChanged;

    private async Task<ILease> LeaseAsync(CancellationToken cancellationToken)
    {
        if (_lease is { } lease && !lease.Lost.IsCancellationRequested)
        {
            return lease;
        }

        if (_lease is not null)
        {
            await _lease.DisposeAsync();
        }

        _lease = await _state.Store.GrantLeaseAsync(_options.LeaseTtl, cancellationToken);
        return _lease;
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

        if (_lease is not null)
        {
            await _lease.DisposeAsync();
        }

        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ledger {Ledger} fully replicated again: {Fragments} fragments, {Entries} entries, {Bytes} bytes copied")]
    private partial void LogReplicated(long ledger, int fragments, long entries, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ledger {Ledger} was deleted; its under-replication mark is removed")]
    private partial void LogLedgerGone(long ledger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ledger {Ledger} is still open on a lost bookie {Seconds:F0} s after it was marked; fencing it to re-replicate its last fragment")]
    private partial void LogFencing(long ledger, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ledger {Ledger} could not be re-replicated now ({Code}: {Error}); it stays marked")]
    private partial void LogLedgerFailed(long ledger, StatusCode code, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A replication round failed ({Error}); trying again")]
    private partial void LogRoundFailed(string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Releasing the replication lock of ledger {Ledger} failed ({Error}); it goes with the lease")]
    private partial void LogUnlockFailed(long ledger, string error);
}
