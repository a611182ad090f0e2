using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;

namespace DistributedLog.Testing;

/// <summary>
/// A cluster as in production, on loopback: a real etcd and N <c>dlog bookie</c> processes that register in it, plus a
/// ledger client in the test process. Bookies can be SIGKILLed, restarted on the same data, or wiped.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly List<BookieProcess> _bookies = [];
    private readonly List<ProxyProcess> _proxies = [];
    private readonly bool _ownsEtcd;

    private ProcessCluster(EtcdServer etcd, bool ownsEtcd, string metadataUri, IMetadataStore store)
    {
        Etcd = etcd;
        _ownsEtcd = ownsEtcd;
        MetadataUri = metadataUri;
        Store = store;
    }

    public EtcdServer Etcd { get; }

    public string MetadataUri { get; }

    public IMetadataStore Store { get; }

    public IReadOnlyList<BookieProcess> Bookies => _bookies;

    public MetadataBookieRegistry Registry { get; private set; } = null!;

    public MetadataLedgerStore LedgerStore { get; private set; } = null!;

    public LedgerClient Client { get; private set; } = null!;

    /// <summary>Starts etcd (unless one is given) and <paramref name="bookies"/> bookie processes (with <paramref name="bookieArgs"/>
    /// added to their command lines), and waits until all registered.</summary>
    public static async Task<ProcessCluster> StartAsync(int bookies, EtcdServer? etcd = null, LedgerClientOptions? options = null,
        params string[] bookieArgs)
    {
        bool ownsEtcd = etcd is null;
        if (etcd is null)
        {
            etcd = new EtcdServer();
            await etcd.StartAsync();
        }

        string uri = etcd.NewStoreUri();
        var store = await MetadataStores.OpenAsync(uri);
        var cluster = new ProcessCluster(etcd, ownsEtcd, uri, store);
        try
        {
            for (int i = 0; i < bookies; i++)
            {
                cluster._bookies.Add(new BookieProcess(TestEntries.TempDirectory($"pc-bookie-{i}"), ["--metadata", uri, "--journal-file-mb", "8",
                    "--write-cache-mb", "16", "--log-level", "Warning", .. bookieArgs]));
            }

            await Task.WhenAll(cluster._bookies.Select(b => b.StartAsync()));
            cluster.Registry = await MetadataBookieRegistry.StartAsync(store);
            await cluster.Registry.WaitForBookiesAsync(bookies, TimeSpan.FromSeconds(30));
            cluster.LedgerStore = new MetadataLedgerStore(store);
            cluster.Client = new LedgerClient(cluster.LedgerStore, cluster.Registry, options);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public BookieProcess Bookie(string bookieId) => _bookies.Single(b => b.BookieId == bookieId);

    public IReadOnlyList<ProxyProcess> Proxies => _proxies;

    /// <summary>Starts <paramref name="count"/> <c>dlog proxy</c> processes on this cluster's metadata (extra arguments to each).</summary>
    public async Task StartProxiesAsync(int count, params string[] extraArgs)
    {
        var started = Enumerable.Range(0, count).Select(_ => new ProxyProcess(MetadataUri, extraArgs)).ToList();
        _proxies.AddRange(started);
        await Task.WhenAll(started.Select(p => p.StartAsync()));
    }

    public ProxyProcess Proxy(string endpoint) => _proxies.Single(p => p.Endpoint == endpoint);

    /// <summary>A second, independent client (its own connections and registry view) over the same metadata.</summary>
    public async Task<(LedgerClient Client, IAsyncDisposable Resources)> NewClientAsync(LedgerClientOptions? options = null)
    {
        var store = await MetadataStores.OpenAsync(MetadataUri);
        var registry = await MetadataBookieRegistry.StartAsync(store);
        var client = new LedgerClient(new MetadataLedgerStore(store), registry, options);
        return (client, new Resources(client, registry, store));
    }

    public async ValueTask DisposeAsync()
    {
        if (Client is not null)
        {
            await Client.DisposeAsync();
        }

        if (Registry is not null)
        {
            await Registry.DisposeAsync();
        }

        await Task.WhenAll(_proxies.Select(p => p.DisposeAsync().AsTask()));
        await Task.WhenAll(_bookies.Select(b => b.DisposeAsync().AsTask()));
        await Store.DisposeAsync();
        if (_ownsEtcd)
        {
            await Etcd.DisposeAsync();
        }
    }

    private sealed class Resources(LedgerClient client, MetadataBookieRegistry registry, IMetadataStore store) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await client.DisposeAsync();
            await registry.DisposeAsync();
            await store.DisposeAsync();
        }
    }
}
