using DistributedLog.Metadata;

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
            try
            {
                await readLock.DisposeAsync();
            }
            catch (OperationCanceledException e)
            {
                // Releasing the read lock hit a metadata deadline (no caller token here): a retryable store error, not a
                // raw cancellation. The lock's lease expires on its own.
                throw new MetadataStoreUnavailableException(
                    $"Releasing the subscriber's read lock failed: the metadata store did not answer in time ({e.Message}).", outcomeUnknown: true, e);
            }
        }
    }
}
