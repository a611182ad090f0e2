using System.Collections.Concurrent;
using DistributedLog.Bookie.Client;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Handles;

/// <summary>
/// The writer of one ledger. <see cref="AddEntryAsync"/> assigns the next entry id, sends the entry (carrying the
/// current LAC) to the Qw bookies of its write set, and completes once Qa of them made it durable and every earlier
/// entry completed: completions are strictly in entry order and the LAC only moves forward. A bookie that fails or
/// times out is replaced (ensemble change, recorded in the ledger metadata by compare-and-set) and the entries it
/// missed are sent to its replacement, invisibly to the caller while enough bookies remain. If the ledger is fenced
/// by a recovering client, every pending and later add fails with <see cref="LedgerFencedException"/>.
/// </summary>
public sealed partial class LedgerHandle : IBookieAddCallback, IAsyncDisposable
{
    private readonly LedgerClient _client;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly Queue<PendingAdd> _pending = new();
    private readonly ConcurrentBag<PendingAdd> _pool = [];
    private LedgerMetadata _metadata;
    private long _metadataVersion;
    private string[] _ensemble;
    private long _lastAddPushed = -1;
    private long _lastAddConfirmed = -1;
    private long _pushedLength;
    private long _confirmedLength;
    private Exception? _error;
    private bool _closing;
    private TaskCompletionSource? _drained;

    internal LedgerHandle(LedgerClient client, Versioned<LedgerMetadata> metadata, ILogger logger)
    {
        _client = client;
        _logger = logger;
        _metadata = metadata.Value;
        _metadataVersion = metadata.Version;
        _ensemble = [.. metadata.Value.CurrentEnsemble];
        LedgerId = metadata.Value.LedgerId;
        MasterKey = metadata.Value.MasterKey;
    }

    /// <summary>The ledger id.</summary>
    public long LedgerId { get; }

    internal ReadOnlyMemory<byte> MasterKey { get; }

    /// <summary>The last entry acknowledged to the caller (-1: none yet).</summary>
    public long LastAddConfirmed
    {
        get
        {
            lock (_gate)
            {
                return _lastAddConfirmed;
            }
        }
    }

    /// <summary>The last entry id handed out.</summary>
    public long LastAddPushed
    {
        get
        {
            lock (_gate)
            {
                return _lastAddPushed;
            }
        }
    }

    /// <summary>The ledger's metadata as this writer last wrote or read it.</summary>
    public LedgerMetadata Metadata
    {
        get
        {
            lock (_gate)
            {
                return _metadata;
            }
        }
    }

    /// <summary>
    /// Adds an entry. Returns its entry id once Qa bookies have it on disk and all earlier entries are acknowledged.
    /// </summary>
    /// <exception cref="LedgerFencedException">Another client recovered (fenced) the ledger; this add's outcome is unknown.</exception>
    /// <exception cref="DlException"><c>LedgerClosed</c>, <c>NotEnoughBookies</c>, <c>TooLargeRecord</c>, …</exception>
    public ValueTask<long> AddEntryAsync(ReadOnlyMemory<byte> payload)
    {
        if (payload.Length > Bookie.Wire.PackagedEntry.MaxPayloadSize)
        {
            return ValueTask.FromException<long>(new DlException(StatusCode.TooLargeRecord,
                $"Entry of {payload.Length} bytes exceeds the maximum entry size of {Bookie.Wire.PackagedEntry.MaxPayloadSize} bytes."));
        }

        if (!_pool.TryTake(out var add))
        {
            add = new PendingAdd();
        }

        string[] ensemble;
        int writeQuorum = _metadata.WriteQuorumSize;
        lock (_gate)
        {
            if (_error is not null || _closing)
            {
                _pool.Add(add);
                return ValueTask.FromException<long>(_error ?? new DlException(StatusCode.LedgerClosed, $"Ledger {LedgerId} is closed; no more adds."));
            }

            long entryId = ++_lastAddPushed;
            _pushedLength += payload.Length;
            add.Init(this, entryId, _lastAddConfirmed, _pushedLength, payload.Span, writeQuorum);
            _pending.Enqueue(add);
            ensemble = _ensemble;
            for (int k = 0; k < writeQuorum; k++)
            {
                add.TargetFor(k, ensemble[DistributionSchedule.BookieIndex(entryId, k, ensemble.Length)]);
                add.AddRef();
            }
        }

        var task = add.Task;
        var targets = add.Targets;
        for (int k = 0; k < writeQuorum; k++)
        {
            var target = targets[k]!;
            _client.Bookies.AddEntry(target.BookieId, MasterKey, add.Entry, recovery: false, this, target);
        }

        return task;
    }

    /// <inheritdoc />
    void IBookieAddCallback.OnAddComplete(in BookieAddResult result, object? state)
    {
        var target = (AddTarget)state!;
        var add = target.Owner;
        string? failedBookie = null;
        Exception? fatal = null;
        List<PendingAdd>? completed = null;
        lock (_gate)
        {
            if (ReferenceEquals(add.Targets[target.Position], target) && _error is null)
            {
                uint bit = 1u << target.Position;
                switch (result.Status)
                {
                    case StatusCode.Success:
                        if ((add.AckedMask & bit) == 0)
                        {
                            add.AckedMask |= bit;
                            add.AckCount++;
                            add.Quorum = add.AckCount >= _metadata.AckQuorumSize;
                        }

                        completed = DrainLocked();
                        break;
                    case StatusCode.LedgerFenced or StatusCode.Unauthorized:
                        fatal = new LedgerFencedException(
                            $"Ledger {LedgerId} was fenced by a recovering client (bookie {target.BookieId} refused entry {add.EntryId}); the writer must stop.");
                        break;
                    case StatusCode.NoSuchLedger:
                        fatal = new DlException(StatusCode.NoSuchLedger, $"Ledger {LedgerId} was deleted (bookie {target.BookieId}).");
                        break;
                    default:
                        if (Array.IndexOf(_ensemble, target.BookieId) >= 0)
                        {
                            failedBookie = target.BookieId;
                            _logger.LogWarning("Bookie {Bookie} failed entry {Ledger}:{Entry} ({Status}); replacing it", target.BookieId, LedgerId, add.EntryId, result.Status);
                        }

                        break;
                }
            }
        }

        add.Release();
        if (completed is not null)
        {
            CompleteInOrder(completed);
        }

        if (fatal is not null)
        {
            Fail(fatal);
        }
        else if (failedBookie is not null)
        {
            OnBookieFailed(failedBookie);
        }
    }

    /// <summary>Takes the acknowledged head of the queue (in entry order) and advances the LAC. Caller holds the lock.</summary>
    private List<PendingAdd>? DrainLocked()
    {
        if (_changingEnsemble || _pending.Count == 0 || !_pending.Peek().Quorum)
        {
            return null;
        }

        var completed = new List<PendingAdd>();
        while (_pending.Count > 0 && _pending.Peek().Quorum)
        {
            var head = _pending.Dequeue();
            _lastAddConfirmed = head.EntryId;
            _confirmedLength = head.LedgerLength;
            completed.Add(head);
        }

        // Progress: bookies that failed before it may replace others again (still subject to the client's quarantine).
        _failedSinceProgress.Clear();
        if (_pending.Count == 0 && _drained is not null)
        {
            _drained.TrySetResult();
        }

        return completed;
    }

    private static void CompleteInOrder(List<PendingAdd> completed)
    {
        foreach (var add in completed)
        {
            add.Complete(add.EntryId);
        }
    }

    internal void Recycle(PendingAdd add) => _pool.Add(add);

    /// <summary>Fails the handle: every pending and later add fails with <paramref name="error"/>.</summary>
    private void Fail(Exception error)
    {
        PendingAdd[] failed;
        lock (_gate)
        {
            if (_error is not null)
            {
                return;
            }

            _error = error;
            failed = [.. _pending];
            _pending.Clear();
            _drained?.TrySetResult();
        }

        _logger.LogWarning("Ledger {Ledger} writer failed: {Error}", LedgerId, error.Message);
        foreach (var add in failed)
        {
            add.Fail(error);
        }
    }

    /// <summary>
    /// Waits for pending adds, then closes the ledger: its metadata becomes Closed with the last acknowledged entry id
    /// (compare-and-set). A fenced writer cannot close: the recovering client does.
    /// </summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        Task drained;
        lock (_gate)
        {
            if (_metadata.IsClosed)
            {
                return;
            }

            _closing = true;
            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_pending.Count == 0)
            {
                _drained.TrySetResult();
            }

            drained = _drained.Task;
        }

        await drained.WaitAsync(cancellationToken);
        if (_error is not null)
        {
            throw _error is DlException dl ? new DlException(dl.Code, $"Ledger {LedgerId} cannot be closed by this writer: {dl.Message}", dl) : _error;
        }

        for (int unavailable = 0; ; )
        {
            LedgerMetadata current;
            long version;
            lock (_gate)
            {
                current = _metadata;
                version = _metadataVersion;
            }

            var closed = current with { State = LedgerState.Closed, LastEntryId = _lastAddConfirmed, Length = _confirmedLength };
            try
            {
                var written = await _client.MetadataStore.WriteAsync(closed, version, cancellationToken);
                lock (_gate)
                {
                    _metadata = written.Value;
                    _metadataVersion = written.Version;
                }

                return;
            }
            catch (DlException e) when (e.Code == StatusCode.MetadataVersionConflict)
            {
                var fresh = await _client.MetadataStore.ReadAsync(LedgerId, cancellationToken)
                    ?? throw new DlException(StatusCode.NoSuchLedger, $"Ledger {LedgerId} was deleted while closing.");
                if (fresh.Value.IsClosed && fresh.Value.LastEntryId == _lastAddConfirmed)
                {
                    lock (_gate)
                    {
                        _metadata = fresh.Value;
                        _metadataVersion = fresh.Version;
                    }

                    return;
                }

                if (fresh.Value.State != LedgerState.Open)
                {
                    throw new LedgerFencedException(
                        $"Ledger {LedgerId} was recovered by another client (state {fresh.Value.State}, last entry {fresh.Value.LastEntryId}); this writer cannot close it.");
                }

                lock (_gate)
                {
                    _metadata = fresh.Value;
                    _metadataVersion = fresh.Version;
                }
            }
            catch (DlException e) when (e.IsRetryable && e.Code != StatusCode.MetadataVersionConflict && ++unavailable <= CloseRetries)
            {
                // The metadata store did not answer (a deadline just after an etcd election): the close is a compare-and-set,
                // so trying again is safe — if the first one was applied, the retry conflicts and finds it closed as wanted.
                await Task.Delay(TimeSpan.FromMilliseconds(250 * unavailable), cancellationToken);
            }
        }
    }

    /// <summary>How often <see cref="CloseAsync"/> tries again when the metadata store is unavailable.</summary>
    private const int CloseRetries = 8;

    /// <summary>Closes the ledger if it is still open and healthy; otherwise just stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_error is null)
        {
            try
            {
                await CloseAsync();
            }
            catch (DlException e)
            {
                _logger.LogDebug("Closing ledger {Ledger} on dispose failed: {Error}", LedgerId, e.Message);
            }
        }
    }
}
