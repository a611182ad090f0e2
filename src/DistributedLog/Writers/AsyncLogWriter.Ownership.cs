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
        bool claimed = false;
        bool leaseRenewed = false;
        try
        {
            while (true)
            {
                // Claim the key among this client's writers; while another writer of this client holds the claim, the lock is taken.
                claimed = claimed || _leases.TryClaimLock(key, this);
                if (claimed)
                {
                    TransactionResult result;
                    try
                    {
                        result = await _store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, me, lease.Id), cancellationToken);
                    }
                    catch (LeaseNotFoundException) when (!leaseRenewed)
                    {
                        // The shared lease expired while the store was unreachable (an etcd pause) and its keep-alive has not
                        // noticed yet: take a new one, once, instead of failing every acquisition until it does.
                        lease = await _leases.GetAsync(_options.OwnershipTtl, cancellationToken, expired: lease);
                        leaseRenewed = true;
                        continue;
                    }

                    if (result.Succeeded)
                    {
                        _lockVersion = result.Revision;
                        break;
                    }
                }

                // Held by someone: watch the key, then check again (a delete between the check and the watch is caught by the re-check).
                await using var watch = await _store.WatchAsync(key, isPrefix: false, cancellationToken);
                var holder = await _store.GetAsync(key, cancellationToken);
                if (holder is null && claimed)
                {
                    continue;
                }

                if (holder is not null && claimed && holder.LeaseId == lease.Id)
                {
                    // Bound to this client's own live lease, yet no writer of this client holds it: an earlier writer's
                    // release failed to delete it (metadata store unavailable, disk full). Delete it now (only that version).
                    LogOrphanLockRemoved(LogName);
                    await _store.CommitAsync(new MetadataTransaction().IfVersion(key, holder.Version).Delete(key), cancellationToken);
                    continue;
                }

                var remaining = deadline - _options.TimeProvider.GetUtcNow();
                if (remaining <= TimeSpan.Zero)
                {
                    var owner = holder is null ? new LogOwner { Writer = "another writer of this client" } : LogOwner.Parse(holder.Value.Span);
                    throw new LockingException(
                        $"Log '{LogName}' is owned by another writer ({owner}); it is freed when that writer closes or its lease expires.")
                    {
                        OwnerEndpoint = owner.Endpoint,
                    };
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                // Without the claim, the other writer of this client may give it up without touching the key: look again soon.
                wait.CancelAfter(claimed ? remaining : TimeSpan.FromMilliseconds(Math.Min(remaining.TotalMilliseconds, 100)));
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
            if (claimed)
            {
                _leases.ReleaseLockClaim(key, this);
            }

            throw;
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

            // The lock key went with the lease: the log is free for the next writer, of this client too.
            writer._leases.ReleaseLockClaim(writer._namespace.Layout.Lock(writer.LogName), writer);
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
            _logger.LogWarning("Releasing the ownership of log {Log} failed ({Error}); the next writer of this client removes it, else it frees itself when the lease expires",
                LogName, e.Message);
        }
        finally
        {
            _leases.ReleaseLockClaim(key, this);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Log {Log} was still locked under this client's own lease by an earlier writer whose release failed; removing that lock")]
    private partial void LogOrphanLockRemoved(string log);
}
