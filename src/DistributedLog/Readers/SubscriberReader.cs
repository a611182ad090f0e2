namespace DistributedLog.Readers;

/// <summary>A reader opened for a subscriber: the reader plus the subscriber's read lock, released on dispose.</summary>
public sealed class SubscriberReader(LogReader reader, IAsyncDisposable readLock) : IAsyncDisposable
{
    /// <summary>The reader, positioned just after the subscriber's committed position.</summary>
    public LogReader Reader { get; } = reader;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Reader.DisposeAsync();
        }
        finally
        {
            await readLock.DisposeAsync();
        }
    }
}
