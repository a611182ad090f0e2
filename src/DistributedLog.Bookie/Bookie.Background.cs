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
            GoReadOnly($"checkpoint failed: {e.Message}");
            throw;
        }
    }

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
        }
    }

    private void CheckDisk()
    {
        try
        {
            long free = Math.Min(FreeBytes(_options.JournalDirectory), FreeBytes(_options.LedgerDirectory));
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
