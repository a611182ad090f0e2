using DistributedLog.Metadata.Internal;

namespace DistributedLog.Metadata.Sqlite;

/// <summary>A watch of the SQLite store: fed in-process by the store after each committed write.</summary>
internal sealed class SqliteWatch : ChannelWatch
{
    private readonly SqliteMetadataStore _store;

    public SqliteWatch(SqliteMetadataStore store, string keyOrPrefix, bool isPrefix, long startRevision, int capacity)
        : base(keyOrPrefix, isPrefix, capacity)
    {
        _store = store;
        StartRevision = startRevision;
    }

    /// <summary>Buffers an event; false when the buffer is full.</summary>
    public bool Offer(WatchEvent change) => Writer.TryWrite(change);

    public override ValueTask DisposeAsync()
    {
        _store.Unregister(this);
        Complete();
        return ValueTask.CompletedTask;
    }
}
