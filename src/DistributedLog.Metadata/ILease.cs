namespace DistributedLog.Metadata;

/// <summary>
/// A lease from <see cref="IMetadataStore.GrantLeaseAsync"/>: keys put with its <see cref="Id"/> exist only while it
/// lives. It renews itself in the background (about every third of its <see cref="Ttl"/>) until disposed or revoked.
/// Used for bookie registration and writer ownership.
/// </summary>
/// <remarks>
/// <para><see cref="IAsyncDisposable.DisposeAsync"/> stops renewing: the lease, and its keys, vanish once <see cref="Ttl"/> has passed
/// without renewal, exactly as if the owner had crashed. <see cref="RevokeAsync"/> removes them at once.</para>
/// <para>An owner must stop acting on what the lease guards as soon as <see cref="Lost"/> is cancelled.</para>
/// </remarks>
public interface ILease : IAsyncDisposable
{
    /// <summary>The lease id to pass to <see cref="IMetadataStore.PutAsync"/> and <see cref="MetadataTransaction.Put"/>.</summary>
    long Id { get; }

    /// <summary>The time to live granted: the lease expires when it is not renewed for this long.</summary>
    TimeSpan Ttl { get; }

    /// <summary>Cancelled once the lease can no longer be relied on: the store reported it gone (expired), renewal failed
    /// for so long that it may have expired, or it was revoked or disposed. Callbacks run on the thread pool.</summary>
    CancellationToken Lost { get; }

    /// <summary>Stops renewal and revokes the lease: its keys are deleted at once. Revoking a lease that already
    /// expired succeeds. If the store cannot be reached the call throws, and the lease expires when its TTL passes.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the lease and its keys are gone.</returns>
    ValueTask RevokeAsync(CancellationToken cancellationToken = default);
}
