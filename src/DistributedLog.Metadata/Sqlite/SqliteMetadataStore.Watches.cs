using DistributedLog.Metadata.Internal;

namespace DistributedLog.Metadata.Sqlite;

public sealed partial class SqliteMetadataStore
{
    // Copy-on-write array of live watches; replaced under _watchLock, read without a lock by Publish.
    private SqliteWatch[] _watches = [];
    private readonly Lock _watchLock = new();

    private bool HasWatchers => Volatile.Read(ref _watches).Length > 0;

    /// <inheritdoc />
    public async ValueTask<IMetadataWatch> WatchAsync(string keyOrPrefix, bool isPrefix, CancellationToken cancellationToken = default)
    {
        if (isPrefix)
            ArgumentNullException.ThrowIfNull(keyOrPrefix);
        else
            MetadataKeys.ValidateKey(keyOrPrefix);
        // Registering under the write gate orders the watch between two commits: it gets exactly the later ones.
        await EnterWriteAsync(cancellationToken);
        try
        {
            var watch = new SqliteWatch(this, keyOrPrefix, isPrefix, _revision, _options.WatchBufferCapacity);
            lock (_watchLock)
                _watches = [.. _watches, watch];
            return watch;
        }
        finally
        {
            _gate.Release();
        }
    }

    internal void Unregister(SqliteWatch watch)
    {
        lock (_watchLock)
        {
            int index = Array.IndexOf(_watches, watch);
            if (index < 0)
                return;
            var remaining = new SqliteWatch[_watches.Length - 1];
            Array.Copy(_watches, 0, remaining, 0, index);
            Array.Copy(_watches, index + 1, remaining, index, remaining.Length - index);
            _watches = remaining;
        }
    }

    /// <summary>Delivers the events of one committed write to the matching watches; called under the write gate, so
    /// watches see commits in order. A watch whose buffer is full is lost rather than blocking writers.</summary>
    private void Publish(List<WatchEvent> events)
    {
        SqliteWatch[] watches = Volatile.Read(ref _watches);
        foreach (SqliteWatch watch in watches)
        {
            foreach (WatchEvent change in events)
            {
                if (watch.Matches(change.Key) && !watch.Offer(change))
                {
                    Unregister(watch);
                    watch.Lose($"its consumer fell more than {_options.WatchBufferCapacity} events behind");
                    break;
                }
            }
        }
    }

    private void AbortWatches()
    {
        SqliteWatch[] watches;
        lock (_watchLock)
        {
            watches = _watches;
            _watches = [];
        }
        foreach (SqliteWatch watch in watches)
            watch.Lose($"the SQLite metadata store '{_path}' was closed");
    }
}
