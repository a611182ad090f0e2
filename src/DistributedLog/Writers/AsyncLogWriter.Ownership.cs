using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Writers;

public sealed partial class AsyncLogWriter
{
    /// <summary>
    /// Takes the log's writer lock: a key bound to this writer's lease, created only if absent (compare-and-set, never
    /// etcd's lock API). Waits up to <see cref="LogWriterOptions.LockTimeout"/> for a previous owner's key to vanish (its
    /// process died and its lease expired, or it closed). Losing the lease later stops this writer.
    /// </summary>
    private async Task AcquireOwnershipAsync(CancellationToken cancellationToken)
    {
        string key = _namespace.Layout.Lock(LogName);
        var lease = await _store.GrantLeaseAsync(_options.OwnershipTtl, cancellationToken);
        try
        {
            var deadline = _options.TimeProvider.GetUtcNow() + _options.LockTimeout;
            while (true)
            {
                await using var watch = await _store.WatchAsync(key, isPrefix: false, cancellationToken);
                var result = await _store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, Utf8(WriterId()), lease.Id), cancellationToken);
                if (result.Succeeded)
                {
                    break;
                }

                var holder = await _store.GetAsync(key, cancellationToken);
                var remaining = deadline - _options.TimeProvider.GetUtcNow();
                if (remaining <= TimeSpan.Zero)
                {
                    throw new LockingException(
                        $"Log '{LogName}' is owned by another writer ({(holder is null ? "just released" : System.Text.Encoding.UTF8.GetString(holder.Value.Span))}); " +
                        "it is freed when that writer closes or its lease expires.");
                }

                // Wait for the holder's key to change (deleted on close or lease expiry), then try again.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(remaining);
                try
                {
                    await foreach (var change in watch.WithCancellation(wait.Token))
                    {
                        if (change.Type == WatchEventType.Delete)
                        {
                            break;
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
        catch
        {
            await lease.RevokeAsync(CancellationToken.None);
            await lease.DisposeAsync();
            throw;
        }

        _lease = lease;
        lease.Lost.Register(static state =>
        {
            var writer = (AsyncLogWriter)state!;
            lock (writer._gate)
            {
                if (!writer._closed)
                {
                    writer.FailLocked(new LockingException($"The writer of log '{writer.LogName}' lost its ownership lease; it stops writing."));
                }
            }
        }, this);
        _logger.LogDebug("Writer took ownership of log {Log}", LogName);
    }

    private async Task ReleaseOwnershipAsync()
    {
        var lease = Interlocked.Exchange(ref _lease, null);
        if (lease is null)
        {
            return;
        }

        try
        {
            await lease.RevokeAsync(CancellationToken.None);
        }
        catch (DlException e)
        {
            _logger.LogWarning("Releasing the ownership of log {Log} failed ({Error}); it frees itself when the lease expires", LogName, e.Message);
        }

        await lease.DisposeAsync();
    }
}
