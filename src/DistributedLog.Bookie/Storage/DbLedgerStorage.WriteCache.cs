using System.Buffers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Storage;

// The write cache: two halves swapped under one short lock. Adds and cache reads take the lock; flushes take it only
// to swap and to drop a flushed half.
public sealed partial class DbLedgerStorage
{
    private readonly object _cacheLock = new();
    private readonly WriteCacheSegmentPool _segmentPool;
    private readonly long _halfCapacity;
    private WriteCacheHalf _active;
    private WriteCacheHalf? _flushing;
    private WriteCacheHalf? _spare;
    private long _lastGeneration;
    private long _durableGeneration;
    private TaskCompletionSource _spaceSignal = NewSignal();
    private Task _backgroundFlush = Task.CompletedTask;
    private bool _backgroundFlushRunning;
    private Exception? _backgroundFlushError;

    /// <inheritdoc />
    public async ValueTask WaitForCacheSpaceAsync(CancellationToken cancellationToken)
    {
        Task signal;
        lock (_cacheLock)
        {
            if (_flushing is null || _closed != 0)
            {
                return;
            }

            signal = _spaceSignal.Task;
            StartBackgroundFlushLocked();
        }

        try
        {
            await signal.WaitAsync(_options.MaxThrottleWait, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Waited long enough: the caller's next add fails again and it rejects the request.
        }
    }

    private bool AddToWriteCache(long ledgerId, long entryId, ReadOnlySpan<byte> entry)
    {
        Exception? failure = null;
        bool added;
        lock (_cacheLock)
        {
            if (_active.TryAdd(ledgerId, entryId, entry))
            {
                added = true;
            }
            else if (_flushing is null)
            {
                // The active half is full and the other one is free: swap, and flush the full one in the background.
                SwapLocked();
                added = _active.TryAdd(ledgerId, entryId, entry);
                StartBackgroundFlushLocked();
            }
            else
            {
                added = false;
                if (_backgroundFlushError is not null)
                {
                    failure = _backgroundFlushError;
                    _backgroundFlushError = null;
                }
                else
                {
                    StartBackgroundFlushLocked();
                }
            }
        }

        if (failure is not null)
        {
            throw new IOException($"Flushing the write cache failed, so it cannot take more entries: {failure.Message}", failure);
        }

        return added;
    }

    private bool TryReadFromWriteCache(EntryKey key, IBufferWriter<byte> destination)
    {
        lock (_cacheLock)
        {
            return _active.TryCopyTo(key, destination) || (_flushing is not null && _flushing.TryCopyTo(key, destination));
        }
    }

    private long LastEntryInWriteCache(long ledgerId)
    {
        lock (_cacheLock)
        {
            return Math.Max(_active.LastEntryId(ledgerId), _flushing?.LastEntryId(ledgerId) ?? -1);
        }
    }

    /// <summary>Makes the active half the one being flushed and starts a new active half. Requires no half being flushed.</summary>
    private void SwapLocked()
    {
        WriteCacheHalf next = _spare ?? new WriteCacheHalf(_segmentPool, _halfCapacity);
        _spare = null;
        next.Generation = ++_lastGeneration;
        _flushing = _active;
        _active = next;
    }

    private void StartBackgroundFlushLocked()
    {
        if (_backgroundFlushRunning || _closed != 0)
        {
            return;
        }

        _backgroundFlushRunning = true;
        _backgroundFlush = Task.Run(BackgroundFlushAsync);
    }

    private async Task BackgroundFlushAsync()
    {
        try
        {
            long target;
            lock (_cacheLock)
            {
                target = _flushing?.Generation ?? 0;
            }

            if (target > 0)
            {
                await FlushUpToAsync(target, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Background flush of the write cache failed; the entries stay in memory and are retried by the next flush.");
            lock (_cacheLock)
            {
                _backgroundFlushError = e;
            }
        }
        finally
        {
            // Wake adders waiting for space even if the flush failed: they retry, and the next full add reports the error.
            TaskCompletionSource signal;
            lock (_cacheLock)
            {
                _backgroundFlushRunning = false;
                signal = _spaceSignal;
                _spaceSignal = NewSignal();
            }

            signal.TrySetResult();
        }
    }

    private async Task WaitForBackgroundFlushAsync()
    {
        while (true)
        {
            Task task;
            lock (_cacheLock)
            {
                if (!_backgroundFlushRunning)
                {
                    return;
                }

                task = _backgroundFlush;
            }

            await task.ConfigureAwait(false);
        }
    }

    /// <summary>Ends a flush attempt of <paramref name="half"/>: drops it if it is durable, and wakes adders waiting for space either way.</summary>
    private void CompleteFlush(WriteCacheHalf half, bool durable)
    {
        TaskCompletionSource signal;
        lock (_cacheLock)
        {
            if (durable)
            {
                _durableGeneration = half.Generation;
                _flushing = null;
                _backgroundFlushError = null;
            }

            signal = _spaceSignal;
            _spaceSignal = NewSignal();
        }

        if (durable)
        {
            half.Clear();
            lock (_cacheLock)
            {
                _spare ??= half;
            }
        }

        signal.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
