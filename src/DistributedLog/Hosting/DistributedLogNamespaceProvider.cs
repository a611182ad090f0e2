using DistributedLog.Namespaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DistributedLog.Hosting;

/// <summary>
/// The default <see cref="IDistributedLogNamespaceProvider"/>: opens
/// <see cref="DistributedLogNamespace.OpenAsync"/> with the options' metadata URI, namespace and ledger settings once,
/// shares the result, and closes the namespace when disposed. Usable without DI as well.
/// </summary>
public sealed class DistributedLogNamespaceProvider : IDistributedLogNamespaceProvider, IAsyncDisposable, IDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly CancellationTokenSource _disposing = new();
    private readonly object _gate = new();
    private Task<DistributedLogNamespace>? _opening;
    private bool _disposed;

    /// <summary>Creates the provider; nothing is opened until <see cref="GetNamespaceAsync"/>.</summary>
    /// <param name="options">The options (validated here).</param>
    /// <param name="loggerFactory">Logging for the namespace; none when null.</param>
    /// <param name="timeProvider">The clock given to writers and readers opened with <see cref="WriterOptions"/> and <see cref="ReaderOptions"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public DistributedLogNamespaceProvider(DistributedLogOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Creates the provider from the options registered in DI.</summary>
    /// <param name="options">The options; reading <see cref="IOptions{TOptions}.Value"/> runs their validation.</param>
    /// <param name="loggerFactory">Logging for the namespace; none when null.</param>
    /// <param name="timeProvider">The clock for writers and readers; the system clock when null.</param>
    /// <exception cref="OptionsValidationException">The options are invalid.</exception>
    public DistributedLogNamespaceProvider(IOptions<DistributedLogOptions> options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this((options ?? throw new ArgumentNullException(nameof(options))).Value, loggerFactory, timeProvider)
    {
    }

    /// <inheritdoc />
    public DistributedLogOptions Options { get; }

    /// <summary>The clock for writers and readers.</summary>
    public TimeProvider TimeProvider { get; }

    /// <inheritdoc />
    public Writers.LogWriterOptions WriterOptions => Options.ToWriterOptions(TimeProvider);

    /// <inheritdoc />
    public Readers.LogReaderOptions ReaderOptions => Options.ToReaderOptions(TimeProvider);

    /// <inheritdoc />
    public Task<DistributedLogNamespace> GetNamespaceAsync(CancellationToken cancellationToken = default)
    {
        Task<DistributedLogNamespace> opening;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_opening is null || _opening.IsFaulted || _opening.IsCanceled)
            {
                _opening = OpenAsync(_disposing.Token);
            }

            opening = _opening;
        }

        return cancellationToken.CanBeCanceled ? opening.WaitAsync(cancellationToken) : opening;
    }

    /// <inheritdoc />
    public async Task<int> PurgeExpiredAsync(string logName, CancellationToken cancellationToken = default)
    {
        if (Options.Retention is not { } retention)
        {
            return 0;
        }

        var ns = await GetNamespaceAsync(cancellationToken);
        return await ns.OpenLog(logName).ApplyRetentionAsync(new Segments.RetentionPolicy { MaxAge = retention }, TimeProvider.GetUtcNow(), cancellationToken);
    }

    /// <summary>Closes the namespace if it was opened (an open in progress is cancelled). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        Task<DistributedLogNamespace>? opening;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            opening = _opening;
        }

        await _disposing.CancelAsync();
        if (opening is not null)
        {
            try
            {
                await (await opening).DisposeAsync();
            }
            catch (Exception e) when (e is OperationCanceledException || opening.IsFaulted)
            {
                // Never opened: nothing to close.
            }
        }

        _disposing.Dispose();
    }

    /// <summary>Closes the namespace synchronously (for containers disposed with <see cref="IDisposable.Dispose"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task<DistributedLogNamespace> OpenAsync(CancellationToken cancellationToken)
    {
        await Task.Yield(); // run the open outside the caller's lock and synchronization context
        return await DistributedLogNamespace.OpenAsync(Options.MetadataUri!, Options.Namespace, Options.ToLedgerClientOptions(_loggerFactory), _loggerFactory,
            cancellationToken);
    }
}
