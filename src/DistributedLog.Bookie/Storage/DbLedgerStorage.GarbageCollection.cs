using System.Buffers;
using DistributedLog.Bookie.Wire;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Storage;

// Garbage collection: purge deleted ledgers from the index, delete entry logs without live bytes, and compact logs whose
// live share is below the threshold (copy their live entries into the current log, sync, re-point the index, delete the
// old file). Each step holds the flush gate, so locations never change under it; reads go on and retry a lookup when the
// log they were about to read has just been removed.
public sealed partial class DbLedgerStorage
{
    /// <inheritdoc />
    /// <exception cref="IOException">Reading, writing or syncing an entry log or the index failed.</exception>
    public async Task<GarbageCollectionResult> CollectGarbageAsync(CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                PurgeDeletedLedgers();
            }
            finally
            {
                _gate.Release();
            }

            List<EntryLogUsage> candidates = _entryLogs.Usage(IsLiveLedger);
            candidates.Sort(static (a, b) => a.LiveRatio.CompareTo(b.LiveRatio));
            int deleted = 0;
            int compacted = 0;
            long reclaimed = 0;
            foreach (EntryLogUsage candidate in candidates)
            {
                if (candidate.LiveBytes > 0 && candidate.LiveRatio >= _options.CompactionThreshold)
                {
                    continue;
                }

                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    // Look again under the gate: the log may have become current, or ledgers may have been deleted.
                    EntryLogUsage? now = _entryLogs.Usage(IsLiveLedger).Find(u => u.Id == candidate.Id);
                    if (now is not { } usage)
                    {
                        continue;
                    }

                    if (usage.LiveBytes == 0)
                    {
                        reclaimed += DeleteEntryLog(usage.Id);
                        deleted++;
                    }
                    else if (usage.LiveRatio < _options.CompactionThreshold)
                    {
                        long freed = CompactEntryLog(usage.Id);
                        if (freed >= 0)
                        {
                            reclaimed += freed;
                            compacted++;
                        }
                    }
                }
                finally
                {
                    _gate.Release();
                }
            }

            if (deleted + compacted > 0)
            {
                _logger.LogInformation("Garbage collection deleted {Deleted} and compacted {Compacted} entry logs, freeing {Bytes} bytes.",
                    deleted, compacted, reclaimed);
            }

            return new GarbageCollectionResult(deleted, compacted, reclaimed);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>A ledger whose bytes must be kept: anything not known to be deleted.</summary>
    private bool IsLiveLedger(long ledgerId) => !(_ledgers.TryGetValue(ledgerId, out LedgerState? state) && state.Deleted);

    /// <summary>Removes the locations of deleted ledgers from the index (caller holds the gate).</summary>
    private void PurgeDeletedLedgers()
    {
        if (_pendingPurge.IsEmpty)
        {
            return;
        }

        List<long> ledgers = [.. _pendingPurge.Keys];
        using (LedgerIndex.IndexBatch batch = _index.CreateBatch())
        {
            foreach (long ledgerId in ledgers)
            {
                batch.DeleteLedgerLocations(ledgerId);
            }

            batch.Commit(sync: true);
        }

        foreach (long ledgerId in ledgers)
        {
            if (_ledgers.TryGetValue(ledgerId, out LedgerState? state))
            {
                lock (state)
                {
                    state.Purged = true;
                    _index.PutLedger(ledgerId, state.ToRecord(), sync: false);
                }
            }

            _pendingPurge.TryRemove(ledgerId, out _);
        }

        Volatile.Write(ref _metadataDirty, 1);
        _logger.LogDebug("Purged {Count} deleted ledgers from the index.", ledgers.Count);
    }

    /// <summary>Deletes an entry log without live bytes (caller holds the gate); returns its size.</summary>
    private long DeleteEntryLog(long logId)
    {
        // Forget the log in the index first: a crash in between leaves a file nothing refers to, which the next pass deletes.
        using (LedgerIndex.IndexBatch batch = _index.CreateBatch())
        {
            batch.DeleteEntryLogMap(logId);
            batch.Commit(sync: true);
        }

        long size = _entryLogs.Delete(logId);
        _logger.LogDebug("Deleted entry log {LogId:x16} ({Bytes} bytes): no live ledgers.", logId, size);
        return size;
    }

    /// <summary>
    /// Copies the live entries of a log into the current log and deletes it (caller holds the gate). Returns the bytes
    /// freed, or -1 if the log was left alone because an entry in it is corrupt.
    /// </summary>
    private long CompactEntryLog(long logId)
    {
        var entries = new List<(EntryKey Key, EntryLocation Location)>();
        foreach (long ledgerId in _entryLogs.LedgersIn(logId))
        {
            if (IsLiveLedger(ledgerId))
            {
                _index.CollectLocationsInLog(ledgerId, logId, entries);
            }
        }

        entries.Sort(static (a, b) => a.Location.Offset.CompareTo(b.Location.Offset));
        var moved = new EntryLocation[entries.Count];
        var ledgerBytes = new Dictionary<(long LogId, long LedgerId), long>();
        long copied = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(PackagedEntry.MaxSize);
        try
        {
            for (int i = 0; i < entries.Count; i++)
            {
                (EntryKey key, EntryLocation from) = entries[i];
                Span<byte> entry = buffer.AsSpan(0, from.Length);
                int read = _entryLogs.Read(logId, from.Offset, entry);
                string? problem = read < from.Length ? "short read" : PackagedEntry.Validate(entry);
                if (problem is null && (PackagedEntry.LedgerId(entry) != key.LedgerId || PackagedEntry.EntryId(entry) != key.EntryId))
                {
                    problem = "entry header names another entry";
                }

                if (problem is not null)
                {
                    _logger.LogError("Not compacting entry log {LogId:x16}: entry {LedgerId}:{EntryId} at offset {Offset} is corrupt ({Problem}).",
                        logId, key.LedgerId, key.EntryId, from.Offset, problem);
                    return -1;
                }

                EntryLocation to = _entryLogs.Append(entry);
                moved[i] = to;
                copied += EntryLogFormat.RecordHeaderSize + entry.Length;
                (long, long) slot = (to.LogId, key.LedgerId);
                ledgerBytes[slot] = ledgerBytes.GetValueOrDefault(slot) + EntryLogFormat.RecordHeaderSize + entry.Length;
            }

            if (entries.Count > 0)
            {
                _entryLogs.SyncCurrent();
            }
        }
        catch (IOException)
        {
            _entryLogs.AbandonCurrent();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        using (LedgerIndex.IndexBatch batch = _index.CreateBatch())
        {
            for (int i = 0; i < entries.Count; i++)
            {
                batch.PutLocation(entries[i].Key, moved[i]);
            }

            foreach (((long toLog, long ledgerId), long delta) in ledgerBytes)
            {
                batch.PutEntryLogLedgerBytes(toLog, ledgerId, _entryLogs.LedgerBytes(toLog, ledgerId) + delta);
            }

            batch.DeleteEntryLogMap(logId);
            batch.PutLastEntryLogId(_entryLogs.HighestId);
            batch.Commit(sync: true);
        }

        _entryLogs.AddLedgerBytes(ledgerBytes);
        long size = _entryLogs.Delete(logId);
        _logger.LogDebug("Compacted entry log {LogId:x16}: moved {Entries} entries ({Copied} bytes) and deleted its {Size} bytes.",
            logId, entries.Count, copied, size);
        return Math.Max(0, size - copied);
    }
}
