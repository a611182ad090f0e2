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
        var lease = await _leases.GetAsync(_options.OwnershipTtl, cancellationToken);
        byte[] me = new LogOwner { Writer = WriterId(), Endpoint = _options.OwnerEndpoint }.Serialize();
        var deadline = _options.TimeProvider.GetUtcNow() + _options.LockTimeout;
        while (true)
        {
            var result = await _store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, me, lease.Id), cancellationToken);
            if (result.Succeeded)
            {
                _lockVersion = result.Revision;
                break;
            }

            // Held by someone: watch the key, then check again (a delete between the check and the watch is caught by the re-check).
            await using var watch = await _store.WatchAsync(key, isPrefix: false, cancellationToken);
            var holder = await _store.GetAsync(key, cancellationToken);
            if (holder is null)
            {
                continue;
            }

            var remaining = deadline - _options.TimeProvider.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                var owner = LogOwner.Parse(holder.Value.Span);
                throw new LockingException(
                    $"Log '{LogName}' is owned by another writer ({owner}); it is freed when that writer closes or its lease expires.")
                {
                    OwnerEndpoint = owner.Endpoint,
                };
            }

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

        _lease = lease;
        _leaseLost = lease.Lost.Register(static state =>
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

    /// <summary>Deletes this writer's lock key (only if it is still ours); the shared lease lives on for other writers.</summary>
    private async Task ReleaseOwnershipAsync()
    {
        if (Interlocked.Exchange(ref _lease, null) is null)
        {
            return;
        }

        await _leaseLost.DisposeAsync();
        string key = _namespace.Layout.Lock(LogName);
        try
        {
            await _store.CommitAsync(new MetadataTransaction().IfVersion(key, _lockVersion).Delete(key), CancellationToken.None);
        }
        catch (DlException e)
        {
            _logger.LogWarning("Releasing the ownership of log {Log} failed ({Error}); it frees itself when the lease expires", LogName, e.Message);
        }
    }
}
