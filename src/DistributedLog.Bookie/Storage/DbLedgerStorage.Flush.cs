using System.Buffers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Storage;

// Flush (the checkpoint): write a swapped-out half to the entry log sorted by (ledger, entry), fdatasync it, commit its
// locations in one synced index batch, and only then drop the half. A failure leaves the half in place (still readable)
// and the next flush writes it again into a fresh entry log.
public sealed partial class DbLedgerStorage
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _metadataDirty;

    /// <inheritdoc />
    /// <exception cref="IOException">Writing or syncing an entry log or the index failed; nothing added since the last
    /// successful flush is marked durable, and the entries stay readable and are retried by the next flush.</exception>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            long target;
            lock (_cacheLock)
            {
                target = _active.Generation;
            }

            await FlushUpToAsync(target, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Returns once every half up to generation <paramref name="target"/> is durable, flushing as needed.</summary>
    private async Task FlushUpToAsync(long target, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                WriteCacheHalf half;
                lock (_cacheLock)
                {
                    if (_durableGeneration >= target)
                    {
                        return;
                    }

                    if (_flushing is null)
                    {
                        SwapLocked();
                    }

                    half = _flushing!;
                }

                bool durable = false;
                try
                {
                    WriteHalf(half);
                    durable = true;
                }
                finally
                {
                    CompleteFlush(half, durable);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Makes one swapped-out half durable. The caller holds the gate; the half no longer changes.</summary>
    private void WriteHalf(WriteCacheHalf half)
    {
        bool metadataDirty = Interlocked.Exchange(ref _metadataDirty, 0) != 0;
        int count = half.Count;
        if (count == 0 && !metadataDirty)
        {
            return;
        }

        EntryKey[] keys = ArrayPool<EntryKey>.Shared.Rent(Math.Max(count, 1));
        EntryLocation[] locations = ArrayPool<EntryLocation>.Shared.Rent(Math.Max(count, 1));
        try
        {
            half.CopySortedKeys(keys);
            var ledgerBytes = new Dictionary<(long LogId, long LedgerId), long>();
            int written = AppendEntries(half, keys, count, locations, ledgerBytes);
            PersistNewLedgers(keys.AsSpan(0, written));

            using (LedgerIndex.IndexBatch batch = _index.CreateBatch())
            {
                for (int i = 0; i < written; i++)
                {
                    batch.PutLocation(keys[i], locations[i]);
                }

                foreach (((long logId, long ledgerId), long delta) in ledgerBytes)
                {
                    batch.PutEntryLogLedgerBytes(logId, ledgerId, _entryLogs.LedgerBytes(logId, ledgerId) + delta);
                }

                batch.PutLastEntryLogId(_entryLogs.HighestId);
                batch.Commit(sync: true);
            }

            // Durable: publish.
            _entryLogs.AddLedgerBytes(ledgerBytes);
            for (int i = 0; i < written; i++)
            {
                if (i + 1 == written || keys[i + 1].LedgerId != keys[i].LedgerId)
                {
                    _flushedLastEntry.AddOrUpdate(keys[i].LedgerId, static (_, entryId) => entryId,
                        static (_, old, entryId) => Math.Max(old, entryId), keys[i].EntryId);
                }
            }

            _readCache.Invalidate(keys.AsSpan(0, written));
            if (written > 0)
            {
                _logger.LogDebug("Flushed {Entries} entries into entry log {LogId:x16}.", written, locations[written - 1].LogId);
            }
        }
        catch
        {
            if (metadataDirty)
            {
                Volatile.Write(ref _metadataDirty, 1);
            }

            throw;
        }
        finally
        {
            ArrayPool<EntryKey>.Shared.Return(keys);
            ArrayPool<EntryLocation>.Shared.Return(locations);
        }
    }

    /// <summary>
    /// Appends the entries of live ledgers to the entry log and syncs it. Compacts <paramref name="keys"/> and fills
    /// <paramref name="locations"/> with what was written; returns how many.
    /// </summary>
    private int AppendEntries(WriteCacheHalf half, EntryKey[] keys, int count, EntryLocation[] locations,
        Dictionary<(long LogId, long LedgerId), long> ledgerBytes)
    {
        int written = 0;
        long currentLedger = -1;
        bool skip = false;
        try
        {
            for (int i = 0; i < count; i++)
            {
                EntryKey key = keys[i];
                if (key.LedgerId != currentLedger)
                {
                    currentLedger = key.LedgerId;
                    skip = !_ledgers.TryGetValue(currentLedger, out LedgerState? state) || state.Deleted;
                }

                if (skip || !half.TryGet(key, out ReadOnlySpan<byte> entry))
                {
                    continue;
                }

                EntryLocation location = _entryLogs.Append(entry);
                keys[written] = key;
                locations[written] = location;
                written++;
                (long, long) slot = (location.LogId, key.LedgerId);
                ledgerBytes[slot] = ledgerBytes.GetValueOrDefault(slot) + EntryLogFormat.RecordHeaderSize + entry.Length;
            }

            if (written > 0)
            {
                _entryLogs.SyncCurrent();
            }

            return written;
        }
        catch
        {
            _entryLogs.AbandonCurrent();
            throw;
        }
    }

    /// <summary>Writes the records of ledgers created implicitly by adds (no master key, never fenced) before their locations.</summary>
    private void PersistNewLedgers(ReadOnlySpan<EntryKey> keys)
    {
        long previous = -1;
        foreach (EntryKey key in keys)
        {
            if (key.LedgerId == previous)
            {
                continue;
            }

            previous = key.LedgerId;
            if (_ledgers.TryGetValue(key.LedgerId, out LedgerState? state))
            {
                lock (state)
                {
                    if (!state.Persisted)
                    {
                        _index.PutLedger(key.LedgerId, state.ToRecord(), sync: false);
                        state.Persisted = true;
                    }
                }
            }
        }
    }
}
