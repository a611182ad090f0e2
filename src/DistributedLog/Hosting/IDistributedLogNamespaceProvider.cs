using DistributedLog.Namespaces;
using DistributedLog.Readers;
using DistributedLog.Writers;

namespace DistributedLog.Hosting;

/// <summary>
/// Hands out the application's <see cref="DistributedLogNamespace"/>, opened once from <see cref="DistributedLogOptions"/>
/// on first use (opening connects to the metadata store, so it is asynchronous and cannot happen in a DI factory).
/// Registered as a singleton by <c>AddDistributedLog</c>; disposing the container closes the namespace.
/// </summary>
public interface IDistributedLogNamespaceProvider
{
    /// <summary>The validated options the namespace is opened with.</summary>
    DistributedLogOptions Options { get; }

    /// <summary>
    /// The namespace: opened on the first call, the same instance afterwards. A failed open is not cached: the next call
    /// tries again.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (an open in progress carries on for later callers).</param>
    /// <exception cref="ObjectDisposedException">The provider was disposed.</exception>
    /// <exception cref="ArgumentException">The metadata URI is malformed.</exception>
    /// <exception cref="DistributedLog.Metadata.MetadataStoreException">The metadata store cannot be opened or reached.</exception>
    Task<DistributedLogNamespace> GetNamespaceAsync(CancellationToken cancellationToken = default);

    /// <summary>Writer settings from <see cref="Options"/>, for <see cref="LogManager.OpenWriterAsync"/>.</summary>
    LogWriterOptions WriterOptions { get; }

    /// <summary>Reader settings from <see cref="Options"/>, for <c>LogManager.OpenReaderAsync</c> and <c>OpenSubscriberReaderAsync</c>.</summary>
    LogReaderOptions ReaderOptions { get; }

    /// <summary>
    /// Applies <see cref="DistributedLogOptions.Retention"/> to one log: purges its completed segments completed longer
    /// ago than the retention period, keeping the last completed segment (DistributedLog's rule; see
    /// <see cref="Segments.RetentionPolicy"/>). Returns how many were purged (0 when retention is off).
    /// </summary>
    /// <param name="logName">The log.</param>
    /// <param name="cancellationToken">Cancels the purge.</param>
    Task<int> PurgeExpiredAsync(string logName, CancellationToken cancellationToken = default);
}
