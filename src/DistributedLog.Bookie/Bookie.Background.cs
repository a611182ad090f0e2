using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie;

public sealed partial class Bookie
{
    /// <summary>
    /// Makes ledger storage durable and trims the journal: takes the journal's synced mark (every record before it was
    /// added to storage first), flushes storage, then records the mark and removes older journal files.
    /// </summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        var mark = _journal.LastSyncedMark;
        try
        {
            await _storage.FlushAsync(cancellationToken);
            LastMarkFile.Write(_options.LedgerDirectory, mark, _options.Faults);
            _journal.RemoveFilesBefore(mark);
        }
        catch (IOException e)
        {
            OnStorageError("checkpoint", e);
            throw;
        }
    }

    /// <summary>
    /// After a full disk: once there is room again, restarts the journal on a fresh file (if it had failed) and flushes
    /// ledger storage (a checkpoint); when both succeed the bookie is writable again. Nothing acknowledged was lost while
    /// it was full: adds whose journal write failed were answered with an error, and the write cache kept every entry
    /// the failed flush could not write. Called on every disk check; does nothing unless the bookie is out of space.
    /// </summary>
    /// <returns>Whether the bookie recovered now.</returns>
    internal async Task<bool> TryRecoverFromFullDiskAsync(CancellationToken cancellationToken)
    {
        if (_outOfSpaceReason is null || _readOnlyReason is not null || _diskFull)
        {
            return false;
        }

        try
        {
            if (_journal.Failure is not null)
            {
                _journal.Restart();
            }

            await CheckpointAsync(cancellationToken);
        }
        catch (IOException e) when (DiskErrors.IsOutOfSpace(e))
        {
            _logger.LogDebug("Bookie {Bookie} is still out of disk space: {Error}", Id, e.Message);
            return false;
        }
        catch (IOException e)
        {
            // Checkpoint errors went through OnStorageError (a real I/O error made the bookie read-only for good); a journal
            // that cannot start again is tried again at the next disk check.
            _logger.LogWarning("Bookie {Bookie} could not leave the read-only state yet: {Error}", Id, e.Message);
            return false;
        }

        _outOfSpaceReason = null;
        _logger.LogWarning("Bookie {Bookie} is writable again: disk space returned, the journal and ledger storage write again", Id);
        RaiseStateChanged();
        return true;
    }

    /// <summary>The ids of the ledgers this bookie stores (not deleted), as a snapshot.</summary>
    public IReadOnlyList<long> ListLedgers() => _storage.ListLedgers();

    /// <summary>
    /// Deletes a ledger on this bookie only, like a client's delete request: reads and adds fail from now on and garbage
    /// collection reclaims its space. Used by the scan-and-compare collector for ledgers whose metadata is gone.
    /// </summary>
    /// <returns><see cref="Protocol.Errors.StatusCode.Success"/>, or why it was not deleted (read-only bookie, I/O error).</returns>
    public Protocol.Errors.StatusCode DeleteLedgerLocally(long ledgerId) => DeleteLedger(ledgerId);

    /// <summary>Runs one garbage-collection pass now.</summary>
    public Task<Storage.GarbageCollectionResult> CollectGarbageAsync(CancellationToken cancellationToken = default) =>
        _storage.CollectGarbageAsync(cancellationToken);

    private async Task CheckpointLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.FlushInterval, _options.TimeProvider);
        while (await WaitTickAsync(timer))
        {
            try
            {
                await CheckpointAsync(_stopping.Token);
            }
            catch (IOException)
            {
                // Logged and turned read-only by CheckpointAsync; the journal still holds everything.
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogError(e, "Checkpoint failed");
            }
        }
    }

    private async Task GcLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.GcInterval, _options.TimeProvider);
        while (await WaitTickAsync(timer))
        {
            try
            {
                var result = await _storage.CollectGarbageAsync(_stopping.Token);
                if (result.BytesReclaimed > 0)
                {
                    _logger.LogInformation("Garbage collection removed {Deleted} entry logs, compacted {Compacted}, reclaimed {Bytes} bytes",
                        result.EntryLogsDeleted, result.EntryLogsCompacted, result.BytesReclaimed);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogError(e, "Garbage collection failed");
            }
        }
    }

    private async Task DiskCheckLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.DiskCheckInterval, _options.TimeProvider);
        while (await WaitTickAsync(timer))
        {
            CheckDisk();
            try
            {
                await TryRecoverFromFullDiskAsync(_stopping.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogError(e, "Recovering bookie {Bookie} from a full disk failed", Id);
            }

            try
            {
                DiskChecked?.Invoke();
            }
            catch (Exception e)
            {
                _logger.LogError(e, "A disk-check handler of bookie {Bookie} failed", Id);
            }
        }
    }

    private void CheckDisk()
    {
        try
        {
            long free = Math.Min(FreeBytes(_options.JournalDirectory), FreeBytes(_options.LedgerDirectory));
            Volatile.Write(ref _freeDiskBytes, free);
            bool full = free < _options.MinFreeDiskBytes;
            if (full != _diskFull)
            {
                _diskFull = full;
                if (full)
                {
                    _logger.LogError("Bookie {Bookie} is read-only: {Free} bytes free, below the minimum of {Min}", Id, free, _options.MinFreeDiskBytes);
                }
                else
                {
                    _logger.LogInformation("Bookie {Bookie} has {Free} bytes free again", Id, free);
                }

                RaiseStateChanged();
            }
        }
        catch (IOException e)
        {
            _logger.LogWarning(e, "Checking free disk space failed");
        }
    }

    private static long FreeBytes(string directory) => new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace;

    private async Task<bool> WaitTickAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
