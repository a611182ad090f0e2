using System.Buffers;
using System.Collections.Concurrent;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// The bookie's ledger storage, modelled on BookKeeper's <c>DbLedgerStorage</c>: a two-half write cache in memory,
/// entry-log files that interleave the entries of many ledgers (each flush writes them sorted by ledger and entry), a
/// RocksDB index (ledger, entry) → location plus ledger metadata, a read cache with read-ahead, and garbage collection
/// that deletes dead entry logs and compacts mostly-dead ones. See <see cref="LedgerIndex"/> and
/// <see cref="EntryLogFormat"/> for the on-disk layouts.
/// </summary>
/// <remarks>
/// <para>Thread-safe. Adds take one short lock (copy into the cache); no lock is held across disk I/O on the add path.
/// Flushes and garbage collection take turns through one gate, so only one of them writes entry logs and locations at a time.</para>
/// <para>An entry id's bytes never change (BookKeeper's rule); re-adding an entry, as journal replay does after a restart,
/// simply overwrites it.</para>
/// </remarks>
public sealed partial class DbLedgerStorage : ILedgerStorage
{
    private const int MaxMasterKeyLength = 1024;
    private const int MaxReadAheadEntries = 100;

    private readonly LedgerStorageOptions _options;
    private readonly ILogger _logger;
    private readonly LedgerIndex _index;
    private readonly EntryLogger _entryLogs;
    private readonly ReadCache _readCache;
    private readonly ConcurrentDictionary<long, LedgerState> _ledgers = new();
    private readonly ConcurrentDictionary<long, long> _flushedLastEntry = new();
    private readonly ConcurrentDictionary<long, byte> _pendingPurge = new();
    private readonly ConcurrentDictionary<long, long> _lastReadEntry = new();
    private int _inFlight;
    private int _closed;

    private DbLedgerStorage(LedgerStorageOptions options, ILogger logger, LedgerIndex index, EntryLogger entryLogs,
        Dictionary<long, LedgerRecord> ledgers)
    {
        _options = options;
        _logger = logger;
        _index = index;
        _entryLogs = entryLogs;
        _readCache = new ReadCache(options.ReadCacheSize);
        _halfCapacity = options.WriteCacheSize / 2;
        _segmentPool = new WriteCacheSegmentPool(WriteCacheSegmentPool.ChooseSegmentSize(_halfCapacity));
        _active = new WriteCacheHalf(_segmentPool, _halfCapacity) { Generation = ++_lastGeneration };
        foreach ((long ledgerId, LedgerRecord record) in ledgers)
        {
            _ledgers[ledgerId] = LedgerState.FromRecord(record);
            if (record.Deleted && !record.Purged)
            {
                _pendingPurge[ledgerId] = 0;
            }
        }
    }

    /// <summary>
    /// Opens the storage in <see cref="LedgerStorageOptions.Directory"/>, creating it if needed. Everything a previous
    /// instance flushed is found again; writing continues in a new entry log.
    /// </summary>
    /// <exception cref="IOException">The directory or the index could not be opened.</exception>
    public static DbLedgerStorage Open(LedgerStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string root = Path.GetFullPath(options.Directory);
        string logDirectory = Path.Combine(root, "entrylogs");
        string indexDirectory = Path.Combine(root, "index");
        Directory.CreateDirectory(logDirectory);
        Directory.CreateDirectory(indexDirectory);
        ILogger logger = options.LoggerFactory?.CreateLogger<DbLedgerStorage>() ?? NullLogger<DbLedgerStorage>.Instance;
        LedgerIndex index = LedgerIndex.Open(indexDirectory);
        try
        {
            Dictionary<long, LedgerRecord> ledgers = index.LoadLedgers();
            var entryLogs = new EntryLogger(logDirectory, options, logger, index.LoadEntryLogMaps(), index.LoadLastEntryLogId());
            var storage = new DbLedgerStorage(options, logger, index, entryLogs, ledgers);
            logger.LogInformation("Opened ledger storage in {Directory}: {Ledgers} ledgers, {EntryLogs} entry logs.",
                root, ledgers.Count, entryLogs.Totals().Count);
            return storage;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public bool LedgerExists(long ledgerId) => _ledgers.TryGetValue(ledgerId, out LedgerState? state) && !state.Deleted;

    /// <inheritdoc />
    public IReadOnlyList<long> ListLedgers()
    {
        var ids = new List<long>(_ledgers.Count);
        foreach (KeyValuePair<long, LedgerState> pair in _ledgers)
        {
            if (!pair.Value.Deleted)
            {
                ids.Add(pair.Key);
            }
        }

        return ids;
    }

    /// <inheritdoc />
    public bool IsDeleted(long ledgerId) => _ledgers.TryGetValue(ledgerId, out LedgerState? state) && state.Deleted;

    /// <inheritdoc />
    /// <exception cref="BookieException">The ledger was deleted (<c>NoSuchLedger</c>).</exception>
    /// <exception cref="IOException">The index write failed.</exception>
    public bool SetMasterKey(long ledgerId, ReadOnlySpan<byte> masterKey)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ledgerId);
        if (masterKey.Length > MaxMasterKeyLength)
        {
            throw new ArgumentException($"A master key of {masterKey.Length} bytes is longer than the {MaxMasterKeyLength} allowed.", nameof(masterKey));
        }

        Enter();
        try
        {
            LedgerState state = GetOrCreateLedger(ledgerId);
            lock (state)
            {
                ThrowIfDeleted(state, ledgerId);
                if (state.MasterKey is not null)
                {
                    return state.MasterKey.AsSpan().SequenceEqual(masterKey);
                }

                state.MasterKey = masterKey.ToArray();
                try
                {
                    PersistLocked(ledgerId, state);
                }
                catch
                {
                    state.MasterKey = null;
                    throw;
                }

                return true;
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    public int GetMasterKey(long ledgerId, Span<byte> destination)
    {
        if (!_ledgers.TryGetValue(ledgerId, out LedgerState? state))
        {
            return -1;
        }

        lock (state)
        {
            if (state.Deleted || state.MasterKey is null)
            {
                return -1;
            }

            if (destination.Length < state.MasterKey.Length)
            {
                throw new ArgumentException($"The master key has {state.MasterKey.Length} bytes; the destination holds {destination.Length}.", nameof(destination));
            }

            state.MasterKey.CopyTo(destination);
            return state.MasterKey.Length;
        }
    }

    /// <inheritdoc />
    /// <exception cref="BookieException">The ledger was deleted (<c>NoSuchLedger</c>).</exception>
    /// <exception cref="IOException">The index write failed.</exception>
    public bool SetFenced(long ledgerId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ledgerId);
        Enter();
        try
        {
            LedgerState state = GetOrCreateLedger(ledgerId);
            lock (state)
            {
                ThrowIfDeleted(state, ledgerId);
                if (state.Fenced)
                {
                    return false;
                }

                state.Fenced = true;
                try
                {
                    PersistLocked(ledgerId, state);
                }
                catch
                {
                    state.Fenced = false;
                    throw;
                }

                return true;
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    public bool IsFenced(long ledgerId)
    {
        if (!_ledgers.TryGetValue(ledgerId, out LedgerState? state))
        {
            return false;
        }

        lock (state)
        {
            return state.Fenced;
        }
    }

    /// <inheritdoc />
    public bool TryAddEntry(long ledgerId, long entryId, ReadOnlySpan<byte> packagedEntry)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ledgerId);
        ArgumentOutOfRangeException.ThrowIfNegative(entryId);
        if (packagedEntry.Length < PackagedEntry.HeaderSize || packagedEntry.Length > PackagedEntry.MaxSize)
        {
            throw new ArgumentException($"A packaged entry has {PackagedEntry.HeaderSize} to {PackagedEntry.MaxSize} bytes, not {packagedEntry.Length}.", nameof(packagedEntry));
        }

        if (PackagedEntry.LedgerId(packagedEntry) != ledgerId || PackagedEntry.EntryId(packagedEntry) != entryId)
        {
            throw new ArgumentException($"The packaged entry is {PackagedEntry.LedgerId(packagedEntry)}:{PackagedEntry.EntryId(packagedEntry)}, not {ledgerId}:{entryId}.", nameof(packagedEntry));
        }

        Enter();
        try
        {
            LedgerState state = GetOrCreateLedger(ledgerId);
            ThrowIfDeleted(state, ledgerId);
            return AddToWriteCache(ledgerId, entryId, packagedEntry);
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    public bool TryReadEntry(long ledgerId, long entryId, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!_ledgers.TryGetValue(ledgerId, out LedgerState? state) || state.Deleted)
        {
            return false;
        }

        Enter();
        try
        {
            var key = new EntryKey(ledgerId, entryId);
            if (TryReadFromWriteCache(key, destination))
            {
                return true;
            }

            // Read ahead on a miss only when this ledger is being read in order (or read for the first time).
            bool sequential = !_lastReadEntry.TryGetValue(ledgerId, out long previous) || previous == entryId - 1;
            if (_readCache.Enabled)
            {
                _lastReadEntry[ledgerId] = entryId;
            }

            if (_readCache.TryCopyTo(key, destination))
            {
                return true;
            }

            long epoch = _readCache.Epoch;
            for (int attempt = 1; ; attempt++)
            {
                if (!_index.TryGetLocation(key, out EntryLocation location))
                {
                    return false;
                }

                try
                {
                    ReadFromEntryLog(key, location, destination, epoch, sequential);
                    return true;
                }
                catch (EntryLogMissingException e)
                {
                    // Compaction moved the entry (or GC deleted its ledger) between the lookup and the read: look again.
                    if (attempt >= 3)
                    {
                        throw new BookieException(StatusCode.IoError,
                            $"Entry {ledgerId}:{entryId} is indexed in entry log {e.LogId:x16}, which does not exist; the bookie's storage is damaged.", e);
                    }
                }
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    public long GetLastEntryId(long ledgerId)
    {
        if (!_ledgers.TryGetValue(ledgerId, out LedgerState? state) || state.Deleted)
        {
            return -1;
        }

        Enter();
        try
        {
            long last = LastEntryInWriteCache(ledgerId);
            if (!_flushedLastEntry.TryGetValue(ledgerId, out long flushed))
            {
                flushed = _index.GetLastEntryId(ledgerId);
                flushed = _flushedLastEntry.AddOrUpdate(ledgerId, static (_, found) => found, static (_, old, found) => Math.Max(old, found), flushed);
            }

            return Math.Max(last, flushed);
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    /// <exception cref="IOException">The tombstone could not be written durably (the ledger is not deleted).</exception>
    public void DeleteLedger(long ledgerId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ledgerId);
        Enter();
        try
        {
            LedgerState state = GetOrCreateLedger(ledgerId);
            lock (state)
            {
                if (state.Deleted)
                {
                    return;
                }

                state.Deleted = true;
                state.Purged = false;
                try
                {
                    _index.PutLedger(ledgerId, state.ToRecord(), sync: true);
                    state.Persisted = true;
                }
                catch
                {
                    state.Deleted = false;
                    throw;
                }
            }

            _flushedLastEntry.TryRemove(ledgerId, out _);
            _lastReadEntry.TryRemove(ledgerId, out _);
            _pendingPurge[ledgerId] = 0;
            _logger.LogDebug("Deleted ledger {LedgerId}.", ledgerId);
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc />
    public LedgerStorageStats GetStats()
    {
        long writeCacheBytes;
        lock (_cacheLock)
        {
            writeCacheBytes = _active.BytesUsed + (_flushing?.BytesUsed ?? 0);
        }

        (int logCount, long logBytes) = _entryLogs.Totals();
        int ledgers = 0;
        foreach (KeyValuePair<long, LedgerState> pair in _ledgers)
        {
            if (!pair.Value.Deleted)
            {
                ledgers++;
            }
        }

        return new LedgerStorageStats(writeCacheBytes, _readCache.Bytes, logCount, logBytes, ledgers);
    }

    /// <summary>Flushes the write cache (unless <see cref="LedgerStorageOptions.FlushOnClose"/> is off) and closes the files and the index.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        while (Volatile.Read(ref _inFlight) > 0)
        {
            await Task.Delay(1).ConfigureAwait(false);
        }

        await WaitForBackgroundFlushAsync().ConfigureAwait(false);
        if (_options.FlushOnClose)
        {
            try
            {
                long target;
                lock (_cacheLock)
                {
                    target = _active.Generation;
                }

                await FlushUpToAsync(target, CancellationToken.None).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                _logger.LogWarning(e, "The final flush of the ledger storage failed; the journal still holds the unflushed entries.");
            }
        }

        _entryLogs.Dispose();
        _index.Dispose();
        lock (_cacheLock)
        {
            _spaceSignal.TrySetResult();
        }
    }

    /// <summary>Test hook: whether the entry's location is in the index, i.e. a flush made it durable.</summary>
    internal bool IsIndexed(long ledgerId, long entryId) => _index.TryGetLocation(new EntryKey(ledgerId, entryId), out _);

    private LedgerState GetOrCreateLedger(long ledgerId) =>
        _ledgers.TryGetValue(ledgerId, out LedgerState? state) ? state : _ledgers.GetOrAdd(ledgerId, static _ => new LedgerState());

    private static void ThrowIfDeleted(LedgerState state, long ledgerId)
    {
        if (state.Deleted)
        {
            throw new BookieException(StatusCode.NoSuchLedger, $"Ledger {ledgerId} was deleted on this bookie; it cannot be written again.");
        }
    }

    /// <summary>Writes the ledger's record without waiting for the disk; the next flush's sync write makes it durable.</summary>
    private void PersistLocked(long ledgerId, LedgerState state)
    {
        _index.PutLedger(ledgerId, state.ToRecord(), sync: false);
        state.Persisted = true;
        Volatile.Write(ref _metadataDirty, 1);
    }

    private void ReadFromEntryLog(EntryKey key, EntryLocation location, IBufferWriter<byte> destination, long epoch, bool readAhead)
    {
        int length = location.Length;
        if (length < PackagedEntry.HeaderSize || length > PackagedEntry.MaxSize)
        {
            throw new ChecksumFailedException($"Corrupt index: entry {key.LedgerId}:{key.EntryId} is recorded with a length of {length} bytes.");
        }

        int chunk = readAhead && _readCache.Enabled ? _options.ReadAheadBytes : 0;
        if (chunk <= length + EntryLogFormat.RecordHeaderSize + PackagedEntry.HeaderSize)
        {
            Span<byte> target = destination.GetSpan(length)[..length];
            int read = _entryLogs.Read(location.LogId, location.Offset, target);
            VerifyFromDisk(target[..read], key, location);
            _readCache.Insert(key, target, epoch);
            destination.Advance(length);
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            int read = _entryLogs.Read(location.LogId, location.Offset, buffer.AsSpan(0, chunk));
            ReadOnlySpan<byte> entry = buffer.AsSpan(0, Math.Min(read, length));
            VerifyFromDisk(entry, key, location);
            entry.CopyTo(destination.GetSpan(length));
            destination.Advance(length);
            _readCache.Insert(key, entry, epoch);
            ReadAhead(key, buffer.AsSpan(length, read - length), epoch);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Caches the records of the same ledger that directly follow an entry just read (checked, never trusted blindly).</summary>
    private void ReadAhead(EntryKey key, ReadOnlySpan<byte> following, long epoch)
    {
        long expected = key.EntryId + 1;
        for (int i = 0; i < MaxReadAheadEntries && EntryLogFormat.TryReadRecord(following, out ReadOnlySpan<byte> candidate, out int recordLength); i++)
        {
            if (PackagedEntry.LedgerId(candidate) != key.LedgerId || PackagedEntry.EntryId(candidate) != expected
                || PackagedEntry.Validate(candidate) is not null)
            {
                return;
            }

            _readCache.Insert(new EntryKey(key.LedgerId, expected), candidate, epoch);
            following = following[recordLength..];
            expected++;
        }
    }

    private static void VerifyFromDisk(ReadOnlySpan<byte> entry, EntryKey key, EntryLocation location)
    {
        if (PackagedEntry.Validate(entry) is null && PackagedEntry.LedgerId(entry) == key.LedgerId && PackagedEntry.EntryId(entry) == key.EntryId)
        {
            return;
        }

        PackagedEntry.Verify(entry, key.LedgerId, key.EntryId, $"entry log {location.LogId:x16} at offset {location.Offset}");
    }

    private void Enter()
    {
        Interlocked.Increment(ref _inFlight);
        if (Volatile.Read(ref _closed) != 0)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new ObjectDisposedException(nameof(DbLedgerStorage));
        }
    }

    private void Exit() => Interlocked.Decrement(ref _inFlight);
}
