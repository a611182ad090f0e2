namespace DistributedLog.Metadata;

/// <summary>
/// An established watch from <see cref="IMetadataStore.WatchAsync"/>. Enumerate it once to receive the changes with
/// a revision greater than <see cref="StartRevision"/>, in revision order (changes of one transaction in the order of
/// its operations). Events are buffered from the moment the watch was established, whether or not it is being
/// enumerated yet.
/// </summary>
/// <remarks>The enumeration ends normally when the watch is disposed, and throws
/// <see cref="OperationCanceledException"/> when the token given to the enumerator is cancelled. It throws
/// <see cref="MetadataWatchLostException"/> when the store can no longer guarantee that every change is delivered
/// (the store was closed, the consumer fell too far behind, or etcd compacted the history the watch needed while it
/// was reconnecting); then list and watch again. The etcd backend reconnects a broken watch by itself and resumes it
/// after the last revision delivered, so an etcd outage delays events but loses none.</remarks>
public interface IMetadataWatch : IAsyncEnumerable<WatchEvent>, IAsyncDisposable
{
    /// <summary>The key, or the prefix when <see cref="IsPrefix"/> is set.</summary>
    string KeyOrPrefix { get; }

    /// <summary>Whether every key starting with <see cref="KeyOrPrefix"/> is watched.</summary>
    bool IsPrefix { get; }

    /// <summary>The store revision when the watch was established: it delivers exactly the changes after this one.</summary>
    long StartRevision { get; }
}
