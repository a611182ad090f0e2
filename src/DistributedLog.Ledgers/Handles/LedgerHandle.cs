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
    private readonly Queue<PendingAdd> _completions = new(); // acknowledged or failed, in entry order, not yet delivered
    private bool _delivering;
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
        var refused = Start(payload.Span, null, null, out var add);
        return refused is not null ? ValueTask.FromException<long>(refused) : add!.Task;
    }

    /// <summary>
    /// Adds an entry whose outcome goes to <paramref name="callback"/>: one call per entry, strictly in entry order and
    /// never two at once for this ledger, on the thread that saw the acknowledgement (keep it short; it must not block).
    /// The payload is copied before this returns. Returns the error instead, without any callback, when the add is
    /// refused at once (too large, the ledger closed or failed).
    /// </summary>
    /// <param name="payload">The entry's bytes.</param>
    /// <param name="callback">Receives the entry id or the error.</param>
    /// <param name="state">Passed to the callback.</param>
    public Exception? AddEntry(ReadOnlySpan<byte> payload, ILedgerAddCallback callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Start(payload, callback, state, out _);
    }

    /// <summary>Builds an entry's payload into <paramref name="destination"/> and returns its length.</summary>
    public delegate int EntryPayloadWriter<TState>(Span<byte> destination, TState state);

    /// <summary>
    /// As <see cref="AddEntry(ReadOnlySpan{byte}, ILedgerAddCallback, object?)"/>, but the payload is built by
    /// <paramref name="writePayload"/> straight into the pooled buffer the entry is sent from (up to
    /// <paramref name="maxPayloadLength"/> bytes): the entry is never copied on its way to the bookies.
    /// </summary>
    public Exception? AddEntry<TState>(int maxPayloadLength, EntryPayloadWriter<TState> writePayload, TState state, ILedgerAddCallback callback,
        object? callbackState)
    {
        ArgumentNullException.ThrowIfNull(writePayload);
        ArgumentNullException.ThrowIfNull(callback);
        if (maxPayloadLength > Bookie.Wire.PackagedEntry.MaxPayloadSize)
        {
            return TooLarge(maxPayloadLength);
        }

        var add = Rent();
        int length = writePayload(add.ReservePayload(maxPayloadLength), state);
        return Start(add, length, callback, callbackState);
    }

    private static DlException TooLarge(int length) => new(StatusCode.TooLargeRecord,
        $"Entry of {length} bytes exceeds the maximum entry size of {Bookie.Wire.PackagedEntry.MaxPayloadSize} bytes.");

    private PendingAdd Rent() => _pool.TryTake(out var add) ? add : new PendingAdd();

    private Exception? Start(ReadOnlySpan<byte> payload, ILedgerAddCallback? callback, object? state, out PendingAdd? started)
    {
        started = null;
        if (payload.Length > Bookie.Wire.PackagedEntry.MaxPayloadSize)
        {
            return TooLarge(payload.Length);
        }

        var add = Rent();
        payload.CopyTo(add.ReservePayload(payload.Length));
        var refused = Start(add, payload.Length, callback, state);
        started = refused is null ? add : null;
        return refused;
    }

    private Exception? Start(PendingAdd add, int payloadLength, ILedgerAddCallback? callback, object? state)
    {
        int writeQuorum = _metadata.WriteQuorumSize;
        lock (_gate)
        {
            if (_error is not null || _closing)
            {
                _pool.Add(add);
                return _error ?? new DlException(StatusCode.LedgerClosed, $"Ledger {LedgerId} is closed; no more adds.");
            }

            long entryId = ++_lastAddPushed;
            _pushedLength += payloadLength;
            add.Init(this, entryId, _lastAddConfirmed, _pushedLength, payloadLength, writeQuorum, callback, state);
            _pending.Enqueue(add);
            var ensemble = _ensemble;
            for (int k = 0; k < writeQuorum; k++)
            {
                add.TargetFor(k, ensemble[DistributionSchedule.BookieIndex(entryId, k, ensemble.Length)]);
                add.AddRef();
            }
        }

        // From here, with a callback, the add may be delivered and recycled as soon as it is sent; without one, the
        // caller's reference keeps it (and its task) alive until the caller took the result.
        var targets = add.Targets;
        var entry = add.Entry;
        for (int k = 0; k < writeQuorum; k++)
        {
            var target = targets[k]!;
            _client.Bookies.AddEntry(target.BookieId, MasterKey, entry, recovery: false, this, target, add);
        }

        return null;
    }

    /// <inheritdoc />
    void IBookieAddCallback.OnAddComplete(in BookieAddResult result, object? state)
    {
        var target = (AddTarget)state!;
        var add = target.Owner;
        string? failedBookie = null;
        Exception? fatal = null;
        bool completed = false;
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
        if (completed)
        {
            DeliverCompletions();
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

    /// <summary>
    /// Moves the acknowledged head of the queue (in entry order) to the completions and advances the LAC; returns whether
    /// there is anything to deliver (then call <see cref="DeliverCompletions"/> after leaving the lock). Caller holds the lock.
    /// </summary>
    private bool DrainLocked()
    {
        if (_changingEnsemble || _pending.Count == 0 || !_pending.Peek().Quorum)
        {
            return false;
        }

        while (_pending.Count > 0 && _pending.Peek().Quorum)
        {
            var head = _pending.Dequeue();
            _lastAddConfirmed = head.EntryId;
            _confirmedLength = head.LedgerLength;
            _completions.Enqueue(head);
        }

        // Progress: bookies that failed before it may replace others again (still subject to the client's quarantine).
        _failedSinceProgress.Clear();
        if (_pending.Count == 0 && _drained is not null)
        {
            _drained.TrySetResult();
        }

        return true;
    }

    /// <summary>
    /// Hands the completions to their callers in entry order, one at a time: whichever thread finds nobody delivering
    /// delivers everything queued, including what other threads queue meanwhile. The only place order is enforced.
    /// </summary>
    private void DeliverCompletions()
    {
        lock (_gate)
        {
            if (_delivering || _completions.Count == 0)
            {
                return;
            }

            _delivering = true;
        }

        while (true)
        {
            PendingAdd add;
            lock (_gate)
            {
                if (!_completions.TryDequeue(out add!))
                {
                    _delivering = false;
                    return;
                }
            }

            try
            {
                add.Deliver();
            }
            catch (Exception e)
            {
                // A callback must not throw; if one does, later entries are still delivered.
                _logger.LogError(e, "An add callback of ledger {Ledger} threw", LedgerId);
            }
        }
    }

    internal void Recycle(PendingAdd add) => _pool.Add(add);

    /// <summary>Fails the handle: every pending and later add fails with <paramref name="error"/>.</summary>
    private void Fail(Exception error)
    {
        lock (_gate)
        {
            if (_error is not null)
            {
                return;
            }

            _error = error;
            // After the acknowledged ones already queued: callers see the failures in entry order too.
            while (_pending.TryDequeue(out var add))
            {
                add.Error = error;
                _completions.Enqueue(add);
            }

            _drained?.TrySetResult();
        }

        _logger.LogWarning("Ledger {Ledger} writer failed: {Error}", LedgerId, error.Message);
        DeliverCompletions();
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
