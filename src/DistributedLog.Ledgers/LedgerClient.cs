using System.Security.Cryptography;
using DistributedLog.Bookie.Client;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Ledgers;

/// <summary>
/// BookKeeper's client in C#: creates ledgers on an ensemble of bookies, opens them for reading (without disturbing
/// the writer) or with recovery (fence, find the end, close), and deletes them. Thread-safe; one per process is enough.
/// </summary>
public sealed partial class LedgerClient : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly bool _ownsBookies;

    /// <summary>Creates a client over a ledger metadata store and a view of the available bookies.</summary>
    public LedgerClient(ILedgerMetadataStore metadataStore, IBookieRegistry registry, LedgerClientOptions? options = null, BookieClient? bookies = null)
    {
        Options = options ?? new LedgerClientOptions();
        _loggerFactory = Options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<LedgerClient>();
        MetadataStore = metadataStore;
        Registry = registry;
        _ownsBookies = bookies is null;
        Bookies = bookies ?? new BookieClient(new BookieClientOptions { RequestTimeout = Options.BookieTimeout, LoggerFactory = _loggerFactory });
        Quarantine = new BookieQuarantine(Options.BookieQuarantineTime, Options.TimeProvider);
    }

    /// <summary>The settings.</summary>
    public LedgerClientOptions Options { get; }

    /// <summary>The connections to bookies.</summary>
    public BookieClient Bookies { get; }

    /// <summary>Where ledger metadata lives.</summary>
    public ILedgerMetadataStore MetadataStore { get; }

    /// <summary>The available bookies.</summary>
    public IBookieRegistry Registry { get; }

    /// <summary>
    /// The bookies quarantined now because they failed a write of this client (see
    /// <see cref="LedgerClientOptions.BookieQuarantineTime"/>): new ensembles avoid them while others are available.
    /// </summary>
    public IReadOnlySet<string> QuarantinedBookies => Quarantine.Current();

    internal BookieQuarantine Quarantine { get; }

    /// <summary>
    /// Chooses a new ensemble among the writable bookies, avoiding quarantined ones while enough others exist (then
    /// falling back to all writable bookies, as BookKeeper does).
    /// </summary>
    private IReadOnlyList<string> ChooseEnsemble(int ensembleSize)
    {
        var writable = Registry.WritableBookies;
        var quarantined = Quarantine.Current();
        if (quarantined.Count > 0)
        {
            var preferred = writable.Where(b => !quarantined.Contains(b)).ToArray();
            if (preferred.Length >= ensembleSize)
            {
                return Options.PlacementPolicy.ChooseEnsemble(ensembleSize, preferred);
            }
        }

        return Options.PlacementPolicy.ChooseEnsemble(ensembleSize, writable);
    }

    /// <summary>Creates a ledger on a new ensemble and returns its writer.</summary>
    /// <param name="ensembleSize">E (default from options).</param>
    /// <param name="writeQuorumSize">Qw (default from options).</param>
    /// <param name="ackQuorumSize">Qa (default from options).</param>
    /// <param name="customMetadata">Application data to store with the ledger.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    public async Task<LedgerHandle> CreateLedgerAsync(int? ensembleSize = null, int? writeQuorumSize = null, int? ackQuorumSize = null,
        IReadOnlyDictionary<string, string>? customMetadata = null, CancellationToken cancellationToken = default)
    {
        int e = ensembleSize ?? Options.EnsembleSize, qw = writeQuorumSize ?? Options.WriteQuorumSize, qa = ackQuorumSize ?? Options.AckQuorumSize;
        var ensemble = ChooseEnsemble(e);
        long ledgerId = await MetadataStore.NextLedgerIdAsync(cancellationToken);
        var metadata = new LedgerMetadata
        {
            LedgerId = ledgerId,
            EnsembleSize = e,
            WriteQuorumSize = qw,
            AckQuorumSize = qa,
            Ensembles = [new EnsembleSegment(0, ensemble)],
            MasterKey = RandomNumberGenerator.GetBytes(20),
            CreatedAt = DateTimeOffset.UtcNow,
            CustomMetadata = customMetadata ?? new Dictionary<string, string>(),
        };
        if (metadata.Validate() is string problem)
        {
            throw new ArgumentException($"Invalid ledger settings: {problem}.");
        }

        var created = await MetadataStore.CreateAsync(metadata, cancellationToken);
        _logger.LogDebug("Created ledger {Ledger} on [{Ensemble}] (E={E} Qw={Qw} Qa={Qa})", ledgerId, string.Join(", ", ensemble), e, qw, qa);
        return new LedgerHandle(this, created, _loggerFactory.CreateLogger<LedgerHandle>());
    }

    /// <summary>
    /// Opens a ledger for reading without recovery: no fencing, the writer carries on; the reader sees entries up to the
    /// LAC it learns from bookies (tailing).
    /// </summary>
    public async Task<LedgerReader> OpenLedgerNoRecoveryAsync(long ledgerId, CancellationToken cancellationToken = default)
    {
        var metadata = await ReadMetadataAsync(ledgerId, cancellationToken);
        var reader = new LedgerReader(this, metadata, _loggerFactory.CreateLogger<LedgerReader>());
        if (!metadata.Value.IsClosed)
        {
            await reader.ReadLastAddConfirmedAsync(cancellationToken);
        }

        return reader;
    }

    /// <summary>
    /// Opens a ledger with recovery: if it is not closed, fences it on its bookies (the old writer's adds fail from then
    /// on), finds the last entry that may have been acknowledged, re-replicates what it found beyond the LAC, and closes
    /// the ledger with that last entry id. Concurrent recoveries converge on one result.
    /// </summary>
    public async Task<LedgerReader> OpenLedgerAsync(long ledgerId, CancellationToken cancellationToken = default)
    {
        var metadata = await ReadMetadataAsync(ledgerId, cancellationToken);
        var reader = new LedgerReader(this, metadata, _loggerFactory.CreateLogger<LedgerReader>());
        if (!metadata.Value.IsClosed)
        {
            await RecoverAsync(reader, cancellationToken);
        }

        return reader;
    }

    /// <summary>Deletes a ledger: its metadata first (so nobody opens it again), then its data on every bookie that may hold some.</summary>
    public async Task DeleteLedgerAsync(long ledgerId, CancellationToken cancellationToken = default)
    {
        var metadata = await MetadataStore.ReadAsync(ledgerId, cancellationToken)
            ?? throw new DlException(StatusCode.NoSuchLedger, $"Ledger {ledgerId} does not exist.");
        await MetadataStore.DeleteAsync(ledgerId, cancellationToken);
        var bookies = metadata.Value.Ensembles.SelectMany(s => s.Bookies).Distinct(StringComparer.Ordinal);
        var results = await Task.WhenAll(bookies.Select(async b => (Bookie: b, Status: await Bookies.DeleteLedgerAsync(b, ledgerId, cancellationToken))));
        foreach (var (bookie, status) in results)
        {
            if (status is not (StatusCode.Success or StatusCode.NoSuchLedger))
            {
                // The metadata is gone, so the data is unreachable; a bookie that missed the delete keeps it until its own cleanup.
                _logger.LogWarning("Deleting ledger {Ledger} on bookie {Bookie} failed ({Status})", ledgerId, bookie, status);
            }
        }
    }

    private async Task<Versioned<LedgerMetadata>> ReadMetadataAsync(long ledgerId, CancellationToken cancellationToken) =>
        await MetadataStore.ReadAsync(ledgerId, cancellationToken)
        ?? throw new DlException(StatusCode.NoSuchLedger, $"Ledger {ledgerId} does not exist.");

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_ownsBookies)
        {
            await Bookies.DisposeAsync();
        }
    }
}
