using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Server;
using DistributedLog.Bookie.Storage;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Bookie;

/// <summary>What became of an add request.</summary>
internal enum AddOutcome
{
    /// <summary>Queued in the journal: the sink is told when it is durable.</summary>
    Queued,
    /// <summary>The journal batch or the write cache is full: wait for space and call again.</summary>
    WaitForSpace,
    /// <summary>Refused; the status says why.</summary>
    Rejected,
}

/// <summary>
/// The storage node: accepts entries of ledgers, makes them durable in its journal before acknowledging, keeps them
/// in ledger storage, enforces fencing and master keys, tracks each ledger's last-add-confirmed and answers long
/// polls. Network-free: <see cref="BookieServer"/> speaks the wire protocol and calls in here.
/// </summary>
public sealed partial class Bookie : IAsyncDisposable
{
    private readonly BookieOptions _options;
    private readonly ILedgerStorage _storage;
    private readonly Journal.Journal _journal;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<long, BookieLedger> _ledgers = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile string? _readOnlyReason;
    private volatile string? _outOfSpaceReason;
    private volatile bool _diskFull;
    private long _freeDiskBytes = -1;
    private Task _background = Task.CompletedTask;

    private Bookie(BookieOptions options, ILedgerStorage storage, ILoggerFactory loggerFactory, IMeterFactory? meterFactory)
    {
        _options = options;
        _storage = storage;
        _logger = loggerFactory.CreateLogger<Bookie>();
        Metrics = new BookieMetrics(options.BookieId, meterFactory);
        _journal = new Journal.Journal(
            new JournalOptions
            {
                Directory = options.JournalDirectory,
                FileSize = options.JournalFileSize,
                MaxBatchBytes = (int)Math.Min(8L << 20, (options.JournalFileSize - Journal.JournalFormat.FileHeaderSize) / 2),
                ZeroFill = options.JournalZeroFill,
                SyncData = options.JournalSyncData,
                Faults = options.Faults,
            },
            loggerFactory.CreateLogger<Journal.Journal>(),
            Metrics);
        _journal.Failed += e => OnStorageError("journal", e);
    }

    /// <summary>How long an add may wait for room before it is refused.</summary>
    internal TimeSpan MaxAddThrottle => _options.MaxAddThrottle;

    /// <summary>The bookie's id.</summary>
    public string Id => _options.BookieId;

    /// <summary>The bookie's instruments.</summary>
    public BookieMetrics Metrics { get; }

    /// <summary>Whether the bookie accepts adds or only reads.</summary>
    public BookieState State => _readOnlyReason is null && _outOfSpaceReason is null && !_diskFull ? BookieState.Writable : BookieState.ReadOnly;

    /// <summary>Raised (on any thread) after <see cref="State"/> may have changed: the bookie turned read-only or writable again.</summary>
    public event Action? StateChanged;

    /// <summary>
    /// Raised (on the disk-check loop, every <see cref="BookieOptions.DiskCheckInterval"/>) after <see cref="FreeDiskBytes"/>
    /// was measured again; <see cref="LedgerCount"/> may have changed too.
    /// </summary>
    public event Action? DiskChecked;

    /// <summary>Free bytes of the fuller of its journal and ledger disks at the last disk check (-1 before the first).</summary>
    public long FreeDiskBytes => Volatile.Read(ref _freeDiskBytes);

    /// <summary>Ledgers the bookie stores now (deleted ones excluded).</summary>
    public int LedgerCount => _storage.GetStats().LedgerCount;

    /// <summary>Why the bookie is read-only, or null.</summary>
    public string? ReadOnlyReason => _readOnlyReason ?? _outOfSpaceReason ?? (_diskFull ? "free disk space is below the minimum" : null);

    /// <summary>
    /// Opens a bookie over its directories: replays the journal from the last checkpoint into ledger storage (so every
    /// acknowledged entry is readable again), checkpoints, then starts the journal and the background loops.
    /// </summary>
    public static async Task<Bookie> OpenAsync(BookieOptions options, ILedgerStorage storage, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.LedgerDirectory);
        var bookie = new Bookie(options, storage, loggerFactory ?? NullLoggerFactory.Instance, meterFactory);
        try
        {
            await bookie.RecoverAsync(cancellationToken);
            bookie._journal.Start();
            bookie.CheckDisk();
            bookie._background = Task.WhenAll(bookie.CheckpointLoopAsync(), bookie.GcLoopAsync(), bookie.DiskCheckLoopAsync());
        }
        catch
        {
            await bookie.DisposeAsync();
            throw;
        }

        return bookie;
    }

    /// <summary>Handles an add: validates it, checks key and fence, stores the entry and queues its journal record.</summary>
    internal AddOutcome AddEntry(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> entry, bool recovery, IResponseSink sink, ulong requestId,
        long timestamp, out StatusCode status)
    {
        status = StatusCode.Success;
        if (!recovery && State != BookieState.Writable)
        {
            return Reject(StatusCode.BookieReadOnly, out status);
        }

        if (PackagedEntry.Validate(entry) is string problem)
        {
            _logger.LogWarning("Refusing an add: {Problem}", problem);
            return Reject(StatusCode.ChecksumFailed, out status);
        }

        long ledgerId = PackagedEntry.LedgerId(entry);
        long entryId = PackagedEntry.EntryId(entry);
        var ledger = GetOrCreateLedger(ledgerId);
        if (ledger is null)
        {
            return Reject(StatusCode.NoSuchLedger, out status);
        }

        if (!CheckOrSetMasterKey(ledger, masterKey))
        {
            return Reject(StatusCode.Unauthorized, out status);
        }

        if (ledger.Fenced && !recovery)
        {
            return Reject(StatusCode.LedgerFenced, out status);
        }

        try
        {
            if (!_storage.TryAddEntry(ledgerId, entryId, entry))
            {
                return AddOutcome.WaitForSpace;
            }
        }
        catch (BookieException e)
        {
            return Reject(e.Code, out status);
        }
        catch (IOException e)
        {
            OnStorageError("ledger storage", e);
            return Reject(StatusCode.IoError, out status);
        }

        if (!ledger.KeyJournaled)
        {
            if (_journal.TryAppendMasterKey(ledgerId, ledger.MasterKey) == JournalAppendResult.Failed)
            {
                return Reject(StatusCode.IoError, out status);
            }

            ledger.KeyJournaled = true;
        }

        var completion = new JournalCompletion(sink, requestId, ledgerId, entryId, (int)BookieOp.AddEntry, timestamp);
        switch (_journal.TryAppendAddEntry(entry, completion))
        {
            case JournalAppendResult.Full:
                return AddOutcome.WaitForSpace;
            case JournalAppendResult.Failed:
                return Reject(_journal.Failure is null ? StatusCode.ServiceUnavailable : StatusCode.IoError, out status);
        }

        Metrics.RecordAddBytes(entry.Length);
        BookieLedger.RaiseTo(ref ledger.LastEntryId, entryId);
        if (BookieLedger.RaiseTo(ref ledger.Lac, PackagedEntry.LastAddConfirmed(entry)))
        {
            WakeLongPolls(ledger);
        }

        return AddOutcome.Queued;
    }

    /// <summary>Completes when an add that got <see cref="AddOutcome.WaitForSpace"/> may be tried again.</summary>
    internal async Task WaitForAddSpaceAsync(CancellationToken cancellationToken)
    {
        var cacheSpace = _storage.WaitForCacheSpaceAsync(cancellationToken).AsTask();
        var journalSpace = _journal.WaitForSpaceAsync(cancellationToken);
        await Task.WhenAny(cacheSpace, journalSpace);
    }

    /// <summary>Reads an entry (entry id -1: the last one) into <paramref name="destination"/>.</summary>
    internal StatusCode ReadEntry(long ledgerId, ref long entryId, PooledBufferWriter destination, out long lac)
    {
        lac = -1;
        var ledger = GetLedger(ledgerId);
        if (ledger is null)
        {
            return StatusCode.NoSuchLedger;
        }

        lac = Volatile.Read(ref ledger.Lac);
        if (entryId < 0)
        {
            entryId = Volatile.Read(ref ledger.LastEntryId);
            if (entryId < 0)
            {
                return StatusCode.NoSuchEntry;
            }
        }

        try
        {
            if (!_storage.TryReadEntry(ledgerId, entryId, destination))
            {
                return StatusCode.NoSuchEntry;
            }
        }
        catch (ChecksumFailedException e)
        {
            _logger.LogError("Corrupt entry {Ledger}:{Entry} on bookie {Bookie}: {Message}", ledgerId, entryId, Id, e.Message);
            destination.Reset();
            return StatusCode.ChecksumFailed;
        }
        catch (IOException e)
        {
            _logger.LogError(e, "I/O error reading entry {Ledger}:{Entry}", ledgerId, entryId);
            destination.Reset();
            return StatusCode.IoError;
        }

        Metrics.RecordRead(destination.WrittenCount);
        return StatusCode.Success;
    }

    /// <summary>The ledger's LAC and last entry id.</summary>
    internal StatusCode ReadLac(long ledgerId, out long lac, out long lastEntryId)
    {
        var ledger = GetLedger(ledgerId);
        lac = ledger is null ? -1 : Volatile.Read(ref ledger.Lac);
        lastEntryId = ledger is null ? -1 : Volatile.Read(ref ledger.LastEntryId);
        return ledger is null ? StatusCode.NoSuchLedger : StatusCode.Success;
    }

    /// <summary>
    /// Fences the ledger (creating it here if this bookie never saw it, so the old writer's later adds are refused too) and
    /// journals the fence; <paramref name="sink"/> is told once the fence is durable, with <paramref name="op"/> as the tag.
    /// Allowed on a read-only bookie: a fence only needs the journal.
    /// </summary>
    internal StatusCode Fence(long ledgerId, ReadOnlySpan<byte> masterKey, IResponseSink sink, ulong requestId, BookieOp op, long entryId)
    {
        var ledger = GetOrCreateLedger(ledgerId);
        if (ledger is null)
        {
            return StatusCode.NoSuchLedger;
        }

        if (!CheckOrSetMasterKey(ledger, masterKey))
        {
            return StatusCode.Unauthorized;
        }

        ledger.Fenced = true;
        _storage.SetFenced(ledgerId);
        if (!ledger.KeyJournaled && _journal.TryAppendMasterKey(ledgerId, ledger.MasterKey) == JournalAppendResult.Queued)
        {
            ledger.KeyJournaled = true;
        }

        var completion = new JournalCompletion(sink, requestId, ledgerId, entryId, (int)op, Stopwatch.GetTimestamp());
        return _journal.TryAppendFence(ledgerId, completion) switch
        {
            JournalAppendResult.Queued => StatusCode.Success,
            JournalAppendResult.Full => StatusCode.TooManyRequests,
            _ => StatusCode.IoError,
        };
    }

    /// <summary>Deletes a ledger: reads and adds fail from now on; its space is reclaimed by garbage collection.</summary>
    internal StatusCode DeleteLedger(long ledgerId)
    {
        if (State != BookieState.Writable)
        {
            return StatusCode.BookieReadOnly;
        }

        try
        {
            _storage.DeleteLedger(ledgerId);
        }
        catch (IOException e)
        {
            OnStorageError("ledger storage", e);
            return StatusCode.IoError;
        }

        if (_ledgers.TryRemove(ledgerId, out var ledger))
        {
            FailLongPolls(ledger, StatusCode.NoSuchLedger);
        }

        return StatusCode.Success;
    }

    /// <summary>Builds the response of a journaled request once its record is durable (or failed). Runs on the journal thread.</summary>
    internal void CompleteJournaled(IResponseSink sink, in JournalCompletion completion, Exception? error)
    {
        var op = (BookieOp)completion.Tag;
        var status = error is null ? StatusCode.Success : StatusCode.IoError;
        switch (op)
        {
            case BookieOp.AddEntry:
                if (error is null)
                {
                    Metrics.RecordAdd(Stopwatch.GetElapsedTime(completion.Timestamp));
                }
                else
                {
                    Metrics.RecordAddError();
                }

                sink.Send(new BookieResponse(op, completion.RequestId, status, completion.LedgerId, completion.EntryId));
                break;
            case BookieOp.Fence:
                ReadLac(completion.LedgerId, out long lac, out long last);
                sink.Send(new BookieResponse(op, completion.RequestId, status, completion.LedgerId, lac, last));
                break;
            case BookieOp.ReadEntry when error is null:
                // A fencing read: read the entry off the journal thread, it may touch the disk.
                var state = (this, sink, completion);
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Item1.SendRead(s.sink, s.completion.RequestId, s.completion.LedgerId, s.completion.EntryId),
                    state, preferLocal: false);
                break;
            default:
                sink.Send(new BookieResponse(op, completion.RequestId, status, completion.LedgerId, completion.EntryId));
                break;
        }
    }

    /// <summary>Reads an entry and sends the read response.</summary>
    internal void SendRead(IResponseSink sink, ulong requestId, long ledgerId, long entryId)
    {
        BookieResponse response;
        try
        {
            response = ReadResponse(BookieOp.ReadEntry, requestId, ledgerId, entryId, minLac: -1);
        }
        catch (ObjectDisposedException)
        {
            // The bookie closed while this fencing read waited on the thread pool: answer instead of crashing the process.
            response = new BookieResponse(BookieOp.ReadEntry, requestId, StatusCode.BookieUnavailable, ledgerId, entryId, -1);
        }

        sink.Send(response);
    }

    /// <summary>Reads an entry into a response: with the entry (in a pooled buffer) on success, without it otherwise.</summary>
    private BookieResponse ReadResponse(BookieOp op, ulong requestId, long ledgerId, long entryId, long minLac)
    {
        var buffer = new PooledBufferWriter();
        var status = ReadEntry(ledgerId, ref entryId, buffer, out long lac);
        lac = Math.Max(lac, minLac);
        if (status != StatusCode.Success)
        {
            buffer.Release();
            return new BookieResponse(op, requestId, status, ledgerId, entryId, lac);
        }

        byte[] payload = buffer.Detach(out int length);
        return new BookieResponse(op, requestId, status, ledgerId, entryId, lac, payload, length);
    }

    private static AddOutcome Reject(StatusCode code, out StatusCode status)
    {
        status = code;
        return AddOutcome.Rejected;
    }

    private bool CheckOrSetMasterKey(BookieLedger ledger, ReadOnlySpan<byte> masterKey)
    {
        byte[]? known = Volatile.Read(ref ledger.MasterKey);
        if (known is not null)
        {
            return masterKey.SequenceEqual(known);
        }

        lock (ledger)
        {
            if (ledger.MasterKey is not null)
            {
                return masterKey.SequenceEqual(ledger.MasterKey);
            }

            if (!_storage.SetMasterKey(ledger.LedgerId, masterKey))
            {
                return false;
            }

            Volatile.Write(ref ledger.MasterKey, masterKey.ToArray());
            return true;
        }
    }

    /// <summary>The in-memory state of a ledger this bookie stores, or null if it has none of it.</summary>
    private BookieLedger? GetLedger(long ledgerId)
    {
        if (_ledgers.TryGetValue(ledgerId, out var ledger))
        {
            return ledger;
        }

        return _storage.LedgerExists(ledgerId) ? GetOrCreateLedger(ledgerId) : null;
    }

    /// <summary>The state of a ledger, created (and loaded from storage) if needed; null if the ledger was deleted.</summary>
    private BookieLedger? GetOrCreateLedger(long ledgerId)
    {
        if (_ledgers.TryGetValue(ledgerId, out var ledger))
        {
            return ledger;
        }

        if (_storage.IsDeleted(ledgerId))
        {
            return null;
        }

        ledger = _ledgers.GetOrAdd(ledgerId, static id => new BookieLedger(id));
        LoadLedger(ledger);
        return ledger;
    }

    private void LoadLedger(BookieLedger ledger)
    {
        lock (ledger)
        {
            if (ledger.Loaded)
            {
                return;
            }

            Span<byte> key = stackalloc byte[BookieProtocol.MaxMasterKeyLength];
            int keyLength = _storage.GetMasterKey(ledger.LedgerId, key);
            if (keyLength >= 0)
            {
                ledger.MasterKey = key[..keyLength].ToArray();
            }

            ledger.Fenced = _storage.IsFenced(ledger.LedgerId);
            long last = _storage.GetLastEntryId(ledger.LedgerId);
            if (last >= 0)
            {
                BookieLedger.RaiseTo(ref ledger.LastEntryId, last);
                var buffer = new PooledBufferWriter();
                try
                {
                    if (_storage.TryReadEntry(ledger.LedgerId, last, buffer))
                    {
                        BookieLedger.RaiseTo(ref ledger.Lac, PackagedEntry.LastAddConfirmed(buffer.WrittenSpan));
                    }
                }
                catch (ChecksumFailedException e)
                {
                    _logger.LogError("Corrupt last entry of ledger {Ledger}: {Message}", ledger.LedgerId, e.Message);
                }
                finally
                {
                    buffer.Release();
                }
            }

            ledger.Loaded = true;
        }
    }

    /// <summary>
    /// An I/O error of the journal or the ledger storage. A full disk (<see cref="DiskErrors.IsOutOfSpace"/>) makes the
    /// bookie read-only until space returns (<see cref="TryRecoverFromFullDiskAsync"/>); any other error makes it
    /// read-only for good (fail-stop: the disk may have lost or corrupted data the bookie cannot know about).
    /// </summary>
    private void OnStorageError(string where, Exception e)
    {
        if (DiskErrors.IsOutOfSpace(e))
        {
            if (_outOfSpaceReason is null)
            {
                _outOfSpaceReason = $"{where}: the disk is full ({e.Message})";
                _logger.LogError("Bookie {Bookie} is read-only until space returns: {Where} ran out of disk space ({Error})", Id, where, e.Message);
                RaiseStateChanged();
            }

            return;
        }

        GoReadOnly($"{where} I/O error: {e.Message}");
    }

    private void GoReadOnly(string reason)
    {
        if (_readOnlyReason is null)
        {
            _readOnlyReason = reason;
            _logger.LogError("Bookie {Bookie} is now read-only: {Reason}", Id, reason);
            RaiseStateChanged();
        }
    }

    private void RaiseStateChanged()
    {
        try
        {
            StateChanged?.Invoke();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A state-change handler of bookie {Bookie} failed", Id);
        }
    }

    /// <summary>Stops the background loops, the journal and the storage.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        try
        {
            await _background;
        }
        catch (OperationCanceledException)
        {
        }

        _journal.Dispose();
        foreach (var ledger in _ledgers.Values)
        {
            FailLongPolls(ledger, StatusCode.ServiceUnavailable);
        }

        await _storage.DisposeAsync();
        Metrics.Dispose();
        _stopping.Dispose();
    }
}
