namespace DistributedLog.Metadata;

/// <summary>
/// A versioned key-value store for DistributedLog's metadata, modelled on etcd: every write transaction raises a
/// store-wide <em>revision</em> by one, and each key remembers the revision that last modified it
/// (<see cref="VersionedValue.Version"/>) and the one that created it (<see cref="VersionedValue.CreateVersion"/>).
/// Compare-and-set transactions on those versions, leases (keys that vanish when their owner stops renewing) and
/// watches are the building blocks of ledger metadata updates, log creation and writer ownership.
/// </summary>
/// <remarks>
/// <para><b>Keys</b> are non-empty strings, relative to the store's root (for example <c>ledgers/00000042</c>); they
/// are compared and listed in the byte order of their UTF-8 encoding. The etcd backend stores them under its root
/// prefix (see <see cref="Etcd.EtcdMetadataStore"/>); the embedded backend stores them as given.</para>
/// <para><b>Versions</b>: a key's <see cref="VersionedValue.Version"/> is always greater than zero and rises with
/// every change of the key; a transaction that writes several keys gives all of them the same version (the new
/// store revision). Version 0 never names an existing key.</para>
/// <para><b>Errors</b>: a store that cannot be reached, or that timed out, throws
/// <see cref="MetadataStoreUnavailableException"/> (retryable). Reads are retried a few times before that; writes
/// are never retried by the store, because their outcome is unknown after such an error. Other failures throw
/// <see cref="MetadataStoreException"/>; every method throws <see cref="OperationCanceledException"/> when its token
/// is cancelled and <see cref="ObjectDisposedException"/> after the store was disposed.</para>
/// <para>All members are safe to call concurrently.</para>
/// </remarks>
public interface IMetadataStore : IAsyncDisposable
{
    /// <summary>The URI that opens this store with <see cref="MetadataStores.OpenAsync(string, MetadataStoreOptions?, CancellationToken)"/>;
    /// used in messages.</summary>
    string Location { get; }

    /// <summary>Reads one key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The key's value and versions, or <see langword="null"/> when it does not exist.</returns>
    ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Lists every key that starts with <paramref name="prefix"/>, sorted by key, as one consistent snapshot.
    /// The prefix matches bytes, not path segments: <c>a/</c> matches <c>a/</c> and <c>a/b</c> but not <c>ab</c>.</summary>
    /// <param name="prefix">The prefix; empty lists every key of the store.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The keys found and the store revision the listing reflects.</returns>
    ValueTask<MetadataListing> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Lists the keys in the half-open range [<paramref name="fromKey"/>, <paramref name="toKey"/>), sorted by
    /// key, as one consistent snapshot.</summary>
    /// <param name="fromKey">The first key of the range (inclusive); empty starts at the first key.</param>
    /// <param name="toKey">The end of the range (exclusive); <see langword="null"/> runs to the last key.</param>
    /// <param name="limit">Most keys to return (the first ones of the range); 0 returns all.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The keys found and the store revision the listing reflects.</returns>
    ValueTask<MetadataListing> ListRangeAsync(string fromKey, string? toKey, int limit = 0, CancellationToken cancellationToken = default);

    /// <summary>Creates or replaces a key unconditionally.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value; the store copies it before returning.</param>
    /// <param name="leaseId">A lease from <see cref="GrantLeaseAsync"/> that the key is bound to (it vanishes with the lease),
    /// or 0 for none. Replacing a key also replaces its lease.</param>
    /// <param name="cancellationToken">Cancels the write (before it is sent).</param>
    /// <returns>The key's new version.</returns>
    /// <exception cref="LeaseNotFoundException">The lease does not exist (it expired or was revoked).</exception>
    ValueTask<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key unconditionally.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the write (before it is sent).</param>
    /// <returns>Whether the key existed.</returns>
    ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Deletes every key that starts with <paramref name="prefix"/>, atomically.</summary>
    /// <param name="prefix">The prefix; empty deletes every key of the store.</param>
    /// <param name="cancellationToken">Cancels the write (before it is sent).</param>
    /// <returns>How many keys were deleted.</returns>
    ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Applies a transaction: if every condition holds, all its operations are applied atomically under one
    /// new revision; otherwise nothing is applied.</summary>
    /// <param name="transaction">The conditions and operations.</param>
    /// <param name="cancellationToken">Cancels the write (before it is sent).</param>
    /// <returns>Whether the conditions held, and the revision (the version of every key the transaction put).</returns>
    /// <exception cref="LeaseNotFoundException">A put names a lease that does not exist.</exception>
    ValueTask<TransactionResult> CommitAsync(MetadataTransaction transaction, CancellationToken cancellationToken = default);

    /// <summary>Grants a lease that keeps itself alive in the background until it is disposed or revoked. Keys put
    /// with its id vanish when it is revoked, or when it expires because it was not renewed for <see cref="ILease.Ttl"/>
    /// (its owner stopped, crashed or lost the store).</summary>
    /// <param name="ttl">Time to live without renewal; rounded up to whole seconds, at least 1 s. etcd may raise it to
    /// its own minimum (about 2 s with default settings); <see cref="ILease.Ttl"/> tells the TTL granted.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The lease.</returns>
    ValueTask<ILease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Revokes a lease by id, wherever it is held (for example a writer or bookie that another process owns):
    /// its keys are deleted at once, and its owner sees <see cref="ILease.Lost"/> at its next renewal. Revoking a lease
    /// that does not exist (any more) does nothing.</summary>
    /// <param name="leaseId">The lease.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the lease and its keys are gone.</returns>
    ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>Starts watching one key or every key under a prefix. The returned watch is already established: it
    /// delivers, in revision order, every change with a revision greater than <see cref="IMetadataWatch.StartRevision"/>,
    /// which includes every change committed after this call returned, and nothing from before the watch.</summary>
    /// <remarks>To follow a key space without missing an update: establish the watch first, then
    /// <see cref="ListAsync"/>; skip events whose <see cref="WatchEvent.Version"/> is not greater than the listing's
    /// <see cref="MetadataListing.Revision"/>. If the store cannot guarantee complete delivery any more, the enumeration
    /// throws <see cref="MetadataWatchLostException"/>: list and watch again.</remarks>
    /// <param name="keyOrPrefix">The key, or the prefix when <paramref name="isPrefix"/> is set (empty: every key).</param>
    /// <param name="isPrefix">Whether to watch every key that starts with <paramref name="keyOrPrefix"/>.</param>
    /// <param name="cancellationToken">Cancels establishing the watch (not the watch itself: dispose it to stop).</param>
    /// <returns>The established watch.</returns>
    ValueTask<IMetadataWatch> WatchAsync(string keyOrPrefix, bool isPrefix, CancellationToken cancellationToken = default);
}
