using DistributedLog.Bookie.Hosting;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;

namespace DistributedLog.Testing;

/// <summary>
/// Bookies hosted in the test process (real TCP, real files, real fsync) around one metadata store — by default the
/// embedded SQLite store, as in the sandbox — plus a ledger client. Bookies can be stopped and started again on the
/// same data and port.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly int[] _ports;
    private readonly BookieHost?[] _hosts;

    private InProcessCluster(string root, IMetadataStore store, int bookies)
    {
        _root = root;
        Store = store;
        _ports = new int[bookies];
        _hosts = new BookieHost?[bookies];
    }

    public IMetadataStore Store { get; }

    public MetadataBookieRegistry Registry { get; private set; } = null!;

    public LedgerClient Client { get; private set; } = null!;

    public MetadataLedgerStore LedgerStore { get; private set; } = null!;

    public int Count => _hosts.Length;

    public string BookieId(int index) => $"127.0.0.1:{_ports[index]}";

    public string BookieDirectory(int index) => Path.Combine(_root, $"bookie-{index}");

    public BookieHost? Host(int index) => _hosts[index];

    public int IndexOf(string bookieId) => Array.FindIndex(_ports, p => $"127.0.0.1:{p}" == bookieId);

    public static async Task<InProcessCluster> StartAsync(int bookies, LedgerClientOptions? options = null, string? metadataUri = null)
    {
        string root = TestEntries.TempDirectory("cluster");
        Directory.CreateDirectory(root);
        var store = await MetadataStores.OpenAsync(metadataUri ?? new Uri(Path.Combine(root, "meta.db")).AbsoluteUri);
        var cluster = new InProcessCluster(root, store, bookies);
        for (int i = 0; i < bookies; i++)
        {
            cluster._ports[i] = BookieProcess.FreePort();
            await cluster.StartBookieAsync(i);
        }

        cluster.Registry = await MetadataBookieRegistry.StartAsync(store);
        await cluster.Registry.WaitForBookiesAsync(bookies, TimeSpan.FromSeconds(30));
        cluster.LedgerStore = new MetadataLedgerStore(store);
        cluster.Client = new LedgerClient(cluster.LedgerStore, cluster.Registry, options);
        return cluster;
    }

    public async Task StartBookieAsync(int index)
    {
        if (_hosts[index] is not null)
        {
            throw new InvalidOperationException($"Bookie {index} is running.");
        }

        _hosts[index] = await BookieHost.StartAsync(new BookieHostOptions
        {
            DataDirectory = BookieDirectory(index),
            Port = _ports[index],
            MinFreeDiskBytes = 0,
            JournalFileSize = 8 << 20,
            WriteCacheSize = 8 << 20,
            MetadataStore = Store,
            RegistrationTtl = TimeSpan.FromSeconds(2),
        });
    }

    /// <summary>Stops a bookie (its connections drop, its registration is revoked).</summary>
    public async Task StopBookieAsync(int index)
    {
        var host = _hosts[index];
        _hosts[index] = null;
        if (host is not null)
        {
            await host.DisposeAsync();
        }
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

        for (int i = 0; i < _hosts.Length; i++)
        {
            await StopBookieAsync(i);
        }

        await Store.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
