using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Naming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Namespaces;

/// <summary>
/// A namespace of logs (DistributedLog's <c>Namespace</c>): create, delete, rename, list and watch logs, and open a
/// <see cref="LogManager"/> per log. Built over a metadata store and a ledger client.
/// </summary>
public sealed class DistributedLogNamespace : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    private DistributedLogNamespace(IMetadataStore store, LedgerClient ledgers, string name, ILoggerFactory loggerFactory)
    {
        Store = store;
        Ledgers = ledgers;
        Metadata = new NamespaceMetadata(store, name);
        LoggerFactory = loggerFactory;
        Leases = new Writers.OwnershipLeases(store);
    }

    /// <summary>The ownership lease shared by this namespace's writers.</summary>
    internal Writers.OwnershipLeases Leases { get; }

    /// <summary>The namespace's name.</summary>
    public string Name => Metadata.Layout.Name;

    /// <summary>The metadata store.</summary>
    public IMetadataStore Store { get; }

    /// <summary>The ledger client segments are written with.</summary>
    public LedgerClient Ledgers { get; }

    /// <summary>The namespace's metadata operations.</summary>
    public NamespaceMetadata Metadata { get; }

    internal ILoggerFactory LoggerFactory { get; }

    /// <summary>A namespace over an existing store and ledger client (not disposed with the namespace).</summary>
    public static DistributedLogNamespace Create(IMetadataStore store, LedgerClient ledgers, string name = "default", ILoggerFactory? loggerFactory = null) =>
        new(store, ledgers, name, loggerFactory ?? NullLoggerFactory.Instance);

    /// <summary>
    /// Opens a namespace from a metadata URI (<c>etcd://host:port/root</c> or <c>file:///…/meta.db</c>) whose bookies
    /// registered there; the store, bookie registry and ledger client are owned by the namespace.
    /// </summary>
    public static async Task<DistributedLogNamespace> OpenAsync(string metadataUri, string name = "default", LedgerClientOptions? ledgerOptions = null,
        ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var store = await MetadataStores.OpenAsync(metadataUri, cancellationToken: cancellationToken);
        try
        {
            var registry = await MetadataBookieRegistry.StartAsync(store, loggerFactory, cancellationToken);
            var ledgers = new LedgerClient(new MetadataLedgerStore(store), registry, ledgerOptions);
            var ns = new DistributedLogNamespace(store, ledgers, name, loggerFactory ?? NullLoggerFactory.Instance);
            ns._owned.AddRange([ledgers, registry, store]);
            return ns;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates a log.</summary>
    public Task CreateLogAsync(string name, CancellationToken cancellationToken = default) => Metadata.CreateLogAsync(name, cancellationToken);

    /// <summary>Whether a log exists.</summary>
    public Task<bool> LogExistsAsync(string name, CancellationToken cancellationToken = default) => Metadata.LogExistsAsync(name, cancellationToken);

    /// <summary>Logs whose names start with <paramref name="prefix"/>.</summary>
    public Task<IReadOnlyList<string>> ListLogsAsync(string prefix = "", CancellationToken cancellationToken = default) => Metadata.ListLogsAsync(prefix, cancellationToken);

    /// <summary>Logs appearing and disappearing (existing ones first).</summary>
    public IAsyncEnumerable<LogChange> WatchLogsAsync(string prefix = "", CancellationToken cancellationToken = default) => Metadata.WatchLogsAsync(prefix, cancellationToken);

    /// <summary>Renames a log (refused while it has a writer).</summary>
    public Task RenameLogAsync(string from, string to, CancellationToken cancellationToken = default) => Metadata.RenameLogAsync(from, to, cancellationToken);

    /// <summary>Deletes a log and its segments' ledgers (refused while it has a writer).</summary>
    public async Task DeleteLogAsync(string name, CancellationToken cancellationToken = default)
    {
        foreach (long ledgerId in await Metadata.DeleteLogAsync(name, cancellationToken))
        {
            try
            {
                await Ledgers.DeleteLedgerAsync(ledgerId, cancellationToken);
            }
            catch (Protocol.Errors.DlException e) when (e.Code == Protocol.Errors.StatusCode.NoSuchLedger)
            {
            }
        }
    }

    /// <summary>The manager of one log (it need not exist yet).</summary>
    public LogManager OpenLog(string name) => new(this, LogName.Validate(name));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Leases.DisposeAsync();
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
    }
}
