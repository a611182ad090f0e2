using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Registration;

/// <summary>
/// BookKeeper's scan-and-compare garbage collector: every <see cref="OrphanLedgerCollectorOptions.ScanInterval"/> it
/// lists the ledgers this bookie stores, then the ledger ids in the metadata store (<see cref="LedgerKeys"/>), and
/// deletes locally a ledger that has no metadata — a delete the bookie missed (it was down, or the client died half
/// way). The ledger then goes through the bookie's normal delete path, and storage garbage collection reclaims its
/// space. Safety rules:
/// <list type="bullet">
/// <item>a ledger is deleted only after it was seen without metadata in two rounds at least
/// <see cref="OrphanLedgerCollectorOptions.OrphanDelay"/> apart (and it was stored here at the first of them, so it is
/// at least that old: a ledger created recently is never touched — even if its first add raced ahead of its
/// metadata);</item>
/// <item>local ledgers are listed <em>before</em> the metadata (metadata is created before the first add, so every
/// ledger in the local list already had its metadata when the metadata was listed, unless it was deleted);</item>
/// <item>a round whose metadata listing fails does nothing (never delete while the store does not answer).</item>
/// </list>
/// The "first seen without metadata" times are in memory only: after a restart the delay starts again.
/// </summary>
public sealed partial class OrphanLedgerCollector : IAsyncDisposable
{
    private readonly Bookie _bookie;
    private readonly IMetadataStore _store;
    private readonly OrphanLedgerCollectorOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<long, DateTimeOffset> _missingSince = [];
    private readonly SemaphoreSlim _roundGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>Creates a collector; <see cref="Start"/> runs it periodically, <see cref="RunOnceAsync"/> runs one round.</summary>
    public OrphanLedgerCollector(Bookie bookie, IMetadataStore store, OrphanLedgerCollectorOptions options, ILogger<OrphanLedgerCollector> logger)
    {
        ArgumentNullException.ThrowIfNull(bookie);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ScanInterval, TimeSpan.Zero, nameof(options.ScanInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.OrphanDelay, TimeSpan.Zero, nameof(options.OrphanDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ListPageSize, 1, nameof(options.ListPageSize));
        _bookie = bookie;
        _store = store;
        _options = options;
        _logger = logger;
    }

    /// <summary>How many local ledgers currently wait out the delay (seen without metadata, not yet deleted).</summary>
    public int PendingOrphans
    {
        get
        {
            lock (_missingSince)
            {
                return _missingSince.Count;
            }
        }
    }

    /// <summary>Starts the periodic rounds (the first one after one interval).</summary>
    public void Start() => _loop = LoopAsync();

    /// <summary>
    /// Runs one round now: lists local ledgers, then the metadata, and deletes the orphans whose delay has passed.
    /// </summary>
    /// <returns>What the round did.</returns>
    public async Task<OrphanScanResult> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        await _roundGate.WaitAsync(cancellationToken);
        try
        {
            return await RoundAsync(cancellationToken);
        }
        finally
        {
            _roundGate.Release();
        }
    }

    private async Task<OrphanScanResult> RoundAsync(CancellationToken cancellationToken)
    {
        // Local first: any ledger in this list had its metadata created before its first add here.
        IReadOnlyList<long> local = _bookie.ListLedgers();
        var known = new HashSet<long>();
        try
        {
            // Paged, so a store with millions of ledgers is never read in one response. Pages are separate snapshots,
            // which is safe: every local ledger's metadata existed before the first page, so it is in its page unless
            // it was deleted.
            string from = LedgerKeys.Prefix;
            while (true)
            {
                MetadataListing page = await _store.ListRangeAsync(from, LedgerKeys.PrefixEnd, _options.ListPageSize, cancellationToken);
                foreach (VersionedValue item in page)
                {
                    if (LedgerKeys.TryParse(item.Key, out long id))
                    {
                        known.Add(id);
                    }
                }

                if (page.Count < _options.ListPageSize)
                {
                    break;
                }

                string last = page[page.Count - 1].Key;
                if (LedgerKeys.TryParse(last, out long lastId))
                {
                    if (lastId == long.MaxValue)
                    {
                        break;
                    }

                    from = LedgerKeys.Ledger(lastId + 1);
                }
                else
                {
                    from = last + "\0"; // a stray key under the prefix: continue just after it
                }
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Any failure of the listing (unavailable, timed out, refused): skip the round, never delete on a partial view.
            _bookie.Metrics.RecordGcScan(completed: false);
            LogScanSkipped(_logger, _bookie.Id, e.Message);
            return new OrphanScanResult(Completed: false, local.Count, Orphans: 0, Deleted: 0);
        }

        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        var due = new List<long>();
        int orphans = 0;
        lock (_missingSince)
        {
            var localSet = new HashSet<long>(local);
            foreach (long id in _missingSince.Keys.Where(id => !localSet.Contains(id) || known.Contains(id)).ToList())
            {
                _missingSince.Remove(id); // deleted meanwhile, or its metadata is there after all
            }

            foreach (long id in local)
            {
                if (known.Contains(id))
                {
                    continue;
                }

                orphans++;
                if (!_missingSince.TryGetValue(id, out DateTimeOffset since))
                {
                    _missingSince[id] = now;
                    LogOrphanSeen(_logger, _bookie.Id, id, _options.OrphanDelay);
                }
                else if (now - since >= _options.OrphanDelay)
                {
                    due.Add(id);
                }
            }
        }

        int deleted = 0;
        foreach (long id in due)
        {
            cancellationToken.ThrowIfCancellationRequested();
            StatusCode status = _bookie.DeleteLedgerLocally(id);
            if (status == StatusCode.Success)
            {
                deleted++;
                _bookie.Metrics.RecordOrphanDeleted();
                lock (_missingSince)
                {
                    _missingSince.Remove(id);
                }

                LogOrphanDeleted(_logger, _bookie.Id, id);
            }
            else
            {
                LogOrphanNotDeleted(_logger, _bookie.Id, id, status);
            }
        }

        _bookie.Metrics.RecordGcScan(completed: true);
        return new OrphanScanResult(Completed: true, local.Count, orphans, deleted);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(_options.ScanInterval, _options.TimeProvider);
        while (true)
        {
            try
            {
                if (!await timer.WaitForNextTickAsync(_stopping.Token))
                {
                    return;
                }

                await RunOnceAsync(_stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRoundFailed(_logger, e, _bookie.Id);
            }
        }
    }

    /// <summary>Stops the periodic rounds (waits for a running one).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _loop;
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bookie {Bookie}: ledger garbage collection skipped this round, the metadata store did not answer: {Error}")]
    private static partial void LogScanSkipped(ILogger logger, string bookie, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Bookie {Bookie}: ledger {LedgerId} has no metadata; it is deleted here if it still has none after {Delay}")]
    private static partial void LogOrphanSeen(ILogger logger, string bookie, long ledgerId, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bookie {Bookie}: deleted orphan ledger {LedgerId} (no metadata for longer than the safety delay); garbage collection reclaims its space")]
    private static partial void LogOrphanDeleted(ILogger logger, string bookie, long ledgerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bookie {Bookie}: could not delete orphan ledger {LedgerId} ({Status}); trying again next round")]
    private static partial void LogOrphanNotDeleted(ILogger logger, string bookie, long ledgerId, StatusCode status);

    [LoggerMessage(Level = LogLevel.Error, Message = "Bookie {Bookie}: a ledger garbage-collection round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception, string bookie);
}

/// <summary>Settings of the <see cref="OrphanLedgerCollector"/>.</summary>
public sealed class OrphanLedgerCollectorOptions
{
    /// <summary>Time between rounds. Default 10 min (BookKeeper's <c>gcWaitTime</c>).</summary>
    public TimeSpan ScanInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a local ledger must stay without metadata (between the first and a later round that see it so) before it
    /// is deleted. Default 1 h.
    /// </summary>
    public TimeSpan OrphanDelay { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Ledger keys read per metadata listing (the listing is paged). Default 10 000.</summary>
    public int ListPageSize { get; init; } = 10_000;

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>What one scan-and-compare round did.</summary>
/// <param name="Completed">False when the metadata store did not answer (nothing was deleted).</param>
/// <param name="LocalLedgers">Ledgers stored on the bookie at the start of the round.</param>
/// <param name="Orphans">Local ledgers without metadata (deleted now or waiting out the delay).</param>
/// <param name="Deleted">Orphans deleted in this round.</param>
public readonly record struct OrphanScanResult(bool Completed, int LocalLedgers, int Orphans, int Deleted);
