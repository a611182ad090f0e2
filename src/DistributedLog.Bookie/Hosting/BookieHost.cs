using System.Diagnostics.Metrics;
using System.Net;
using DistributedLog.Bookie.Registration;
using DistributedLog.Bookie.Server;
using DistributedLog.Metadata;
using DistributedLog.Bookie.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Bookie.Hosting;

/// <summary>
/// A running bookie: ledger storage, the <see cref="Bookie"/> (journal replayed) and its TCP server, composed from
/// <see cref="BookieHostOptions"/>. Used by <c>dlog bookie</c>, the sandbox and in-process tests.
/// </summary>
public sealed class BookieHost : IAsyncDisposable
{
    private BookieRegistration? _registration;
    private IMetadataStore? _ownedStore;
    private OrphanLedgerCollector? _orphans;

    private BookieHost(Bookie bookie, BookieServer server)
    {
        Bookie = bookie;
        Server = server;
    }

    /// <summary>The bookie.</summary>
    public Bookie Bookie { get; }

    /// <summary>Its server.</summary>
    public BookieServer Server { get; }

    /// <summary>The metadata store the bookie registered in (null without one).</summary>
    public IMetadataStore? MetadataStore { get; private set; }

    /// <summary>The scan-and-compare ledger collector, when the bookie has a metadata store and it is not turned off.</summary>
    public OrphanLedgerCollector? OrphanCollector => _orphans;

    /// <summary>The bookie's id (<c>host:port</c>), by which clients name it.</summary>
    public string BookieId => Bookie.Id;

    /// <summary>Opens the data directories, recovers, and starts serving.</summary>
    public static async Task<BookieHost> StartAsync(BookieHostOptions options, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        if (!IPAddress.TryParse(options.Host, out var address))
        {
            throw new ArgumentException($"'{options.Host}' is not an IP address to listen on.", nameof(options));
        }

        if (options.Port is < 0 or > 65535)
        {
            throw new ArgumentException($"Port {options.Port} is outside 0..65535.", nameof(options));
        }

        string ledgerDirectory = options.LedgerDirectory ?? Path.Combine(options.DataDirectory, "ledgers");
        string journalDirectory = options.JournalDirectory ?? Path.Combine(options.DataDirectory, "journal");
        Directory.CreateDirectory(ledgerDirectory);
        Directory.CreateDirectory(journalDirectory);

        var server = new BookieServer(new IPEndPoint(address, options.Port), loggerFactory, options.Server);
        string bookieId = $"{options.Host}:{server.Endpoint.Port}";
        ILedgerStorage? storage = null;
        try
        {
            storage = DbLedgerStorage.Open(new LedgerStorageOptions
            {
                Directory = ledgerDirectory,
                WriteCacheSize = options.WriteCacheSize,
                EntryLogSizeLimit = options.EntryLogSizeLimit,
                FaultInjector = options.Faults,
                LoggerFactory = loggerFactory,
            });
            var opened = storage;
            storage = null; // from here on the bookie owns (and on failure disposes) the storage
            var bookie = await Bookie.OpenAsync(new BookieOptions
            {
                BookieId = bookieId,
                JournalDirectory = journalDirectory,
                LedgerDirectory = ledgerDirectory,
                JournalFileSize = options.JournalFileSize,
                JournalSyncData = options.JournalSyncData,
                FlushInterval = options.FlushInterval,
                GcInterval = options.GcInterval,
                MinFreeDiskBytes = options.MinFreeDiskBytes,
                DiskCheckInterval = options.DiskCheckInterval,
                Faults = options.Faults,
            }, opened, loggerFactory, meterFactory, cancellationToken);
            var host = new BookieHost(bookie, server);
            try
            {
                var store = options.MetadataStore;
                var registrationLogger = loggerFactory.CreateLogger<BookieRegistration>();
                if (store is null && options.MetadataUri is not null)
                {
                    // A server waits for its metadata store at start (retrying with back-off) instead of exiting.
                    string uri = options.MetadataUri;
                    store = host._ownedStore = await MetadataStartup.WaitAsync($"Bookie {bookieId}: connecting to the metadata store {MetadataStores.Redact(uri)}",
                        async ct => await MetadataStores.OpenAsync(uri, cancellationToken: ct), registrationLogger, cancellationToken: cancellationToken);
                }

                if (store is not null)
                {
                    // The cookie is checked before serving: a bookie with a wiped disk must not answer as if it had its data.
                    await MetadataStartup.WaitAsync($"Bookie {bookieId}: checking its cookie",
                        ct => BookieRegistration.ValidateCookieAsync(store, bookieId, journalDirectory, ledgerDirectory, registrationLogger, ct),
                        registrationLogger, cancellationToken: cancellationToken);
                }

                server.Start(bookie);
                host.MetadataStore = store;
                if (store is not null)
                {
                    host._registration = await MetadataStartup.WaitAsync($"Bookie {bookieId}: registering",
                        ct => BookieRegistration.StartAsync(store, bookie, journalDirectory, ledgerDirectory, options.RegistrationTtl, registrationLogger, ct, options.Rack),
                        registrationLogger, cancellationToken: cancellationToken);
                    if (options.GcScanInterval > TimeSpan.Zero)
                    {
                        host._orphans = new OrphanLedgerCollector(bookie, store,
                            new OrphanLedgerCollectorOptions { ScanInterval = options.GcScanInterval, OrphanDelay = options.GcOrphanDelay },
                            loggerFactory.CreateLogger<OrphanLedgerCollector>());
                        host._orphans.Start();
                    }
                }
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }

            return host;
        }
        catch
        {
            await server.DisposeAsync();
            if (storage is not null)
            {
                await storage.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Stops the ledger garbage collection, unregisters, stops serving, then closes the bookie (journal and storage).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_orphans is not null)
        {
            await _orphans.DisposeAsync();
        }

        if (_registration is not null)
        {
            await _registration.DisposeAsync();
        }

        await Server.DisposeAsync();
        await Bookie.DisposeAsync();
        if (_ownedStore is not null)
        {
            await _ownedStore.DisposeAsync();
        }
    }
}
