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
        if (Options.MinRacksPerWriteSet < 1 || Options.MinRegionsPerWriteSet < 1)
        {
            throw new ArgumentException("The minimum numbers of racks and regions per write set must be at least 1 " +
                $"(got {Options.MinRacksPerWriteSet} racks, {Options.MinRegionsPerWriteSet} regions).", nameof(options));
        }

        PlacementPolicy = Options.PlacementPolicy ?? new RackAwarePlacementPolicy(Options.MinRacksPerWriteSet, minRegionsPerWriteSet: Options.MinRegionsPerWriteSet);
        Location = Options.Rack is null ? null : NetworkLocation.Parse(Options.Rack);
    }

    /// <summary>How this client chooses bookies (<see cref="LedgerClientOptions.PlacementPolicy"/>, rack-aware by default).</summary>
    public IEnsemblePlacementPolicy PlacementPolicy { get; }

    /// <summary>This client's own location (<see cref="LedgerClientOptions.Rack"/>), which orders reads; null when not set.</summary>
    public NetworkLocation? Location { get; }

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
    /// Chooses a new ensemble among the writable bookies with the placement policy, avoiding quarantined ones while the
    /// others suffice (then falling back to all writable bookies, as BookKeeper does).
    /// </summary>
    private IReadOnlyList<string> ChooseEnsemble(int ensembleSize, int writeQuorumSize)
    {
        var writable = Registry.WritableBookies.Select(Node).ToArray();
        var quarantined = Quarantine.Current();
        if (quarantined.Count > 0)
        {
            var preferred = writable.Where(b => !quarantined.Contains(b.Id)).ToArray();
            if (preferred.Length >= ensembleSize)
            {
                try
                {
                    return PlacementPolicy.ChooseEnsemble(ensembleSize, writeQuorumSize, preferred);
                }
                catch (DlException e) when (e.Code == StatusCode.NotEnoughBookies)
                {
                    LogQuarantineFallback(_logger, string.Join(", ", quarantined), e.Message);
                }
            }
        }

        return PlacementPolicy.ChooseEnsemble(ensembleSize, writeQuorumSize, writable);
    }

    /// <summary>
    /// Chooses a writable bookie to replace <paramref name="failed"/> in <paramref name="ensemble"/> with the placement
    /// policy (keeping the write sets spread over racks): outside the ensemble and <paramref name="excluded"/>,
    /// preferably not quarantined (quarantined bookies only when nothing else qualifies, as BookKeeper does). Used by
    /// ensemble changes; re-replication can use it too.
    /// </summary>
    /// <exception cref="DlException"><c>NotEnoughBookies</c> when no bookie qualifies (the message says why).</exception>
    public string ChooseReplacementBookie(IReadOnlyList<string> ensemble, int writeQuorumSize, string failed, IReadOnlySet<string> excluded)
    {
        var writable = Registry.WritableBookies.Select(Node).ToArray();
        var members = ensemble.Select(Node).ToArray();
        var quarantined = Quarantine.Current();
        if (quarantined.Count > 0)
        {
            try
            {
                return PlacementPolicy.ReplaceBookie(members, writeQuorumSize, failed, writable, new HashSet<string>(excluded.Concat(quarantined), StringComparer.Ordinal));
            }
            catch (DlException e) when (e.Code == StatusCode.NotEnoughBookies)
            {
                LogQuarantineFallback(_logger, string.Join(", ", quarantined), e.Message);
            }
        }

        return PlacementPolicy.ReplaceBookie(members, writeQuorumSize, failed, writable, excluded);
    }

    /// <summary>A bookie with its location as the registry knows it (the default rack when it never saw it).</summary>
    private BookieNode Node(string bookieId) => new(bookieId, Registry.LocationOf(bookieId) ?? NetworkLocation.Default);

    [LoggerMessage(Level = LogLevel.Information, Message = "Placement outside the quarantined bookies [{Quarantined}] failed ({Reason}); trying them too")]
    private static partial void LogQuarantineFallback(ILogger logger, string quarantined, string reason);

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
        if (qa < 1 || qw < qa || e < qw)
        {
            // Checked before placement, which needs sane quorums (the metadata check below says the same).
            throw new ArgumentException($"Invalid ledger settings: quorums must satisfy E >= Qw >= Qa >= 1 (E={e}, Qw={qw}, Qa={qa}).");
        }

        var ensemble = ChooseEnsemble(e, qw);
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
