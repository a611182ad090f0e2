using System.Text.Json;
using DistributedLog.Bookie.Registration;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Metadata;

/// <summary>
/// Ledger metadata in the project's metadata store:
/// <code>
/// ledgers/&lt;id, 19 digits&gt;   LedgerMetadata as JSON; its store version is the CAS version (key layout: <see cref="LedgerKeys"/>)
/// idgen/ledgers               the ledger id counter (<see cref="MetadataIdGenerator"/>)
/// </code>
/// </summary>
public sealed class MetadataLedgerStore(IMetadataStore store) : ILedgerMetadataStore
{
    /// <summary>Prefix of ledger metadata keys.</summary>
    public const string LedgersPrefix = LedgerKeys.Prefix;

    /// <summary>Key of the ledger id counter.</summary>
    public const string IdCounterKey = "idgen/ledgers";

    /// <summary>Key of a ledger's metadata.</summary>
    public static string LedgerKey(long ledgerId) => LedgerKeys.Ledger(ledgerId);

    private readonly MetadataIdGenerator _ids = new(store);
    private readonly SemaphoreSlim _idGate = new(1, 1);
    private long _nextId;
    private long _endId;

    /// <summary>Ledger ids reserved per round trip to the counter (so thousands of concurrent creations do not all fight over one key).</summary>
    public const int IdBatch = 64;

    /// <inheritdoc />
    public async Task<long> NextLedgerIdAsync(CancellationToken cancellationToken)
    {
        await _idGate.WaitAsync(cancellationToken);
        try
        {
            if (_nextId >= _endId)
            {
                _nextId = await _ids.ReserveAsync(IdCounterKey, IdBatch, cancellationToken);
                _endId = _nextId + IdBatch;
            }

            return _nextId++;
        }
        finally
        {
            _idGate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<Versioned<LedgerMetadata>> CreateAsync(LedgerMetadata metadata, CancellationToken cancellationToken)
    {
        string key = LedgerKey(metadata.LedgerId);
        var result = await store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, Serialize(metadata)), cancellationToken);
        if (!result.Succeeded)
        {
            throw new DlException(StatusCode.MetadataVersionConflict, $"Ledger {metadata.LedgerId} already exists.");
        }

        return new Versioned<LedgerMetadata>(metadata, result.Revision);
    }

    /// <inheritdoc />
    public async Task<Versioned<LedgerMetadata>?> ReadAsync(long ledgerId, CancellationToken cancellationToken)
    {
        var value = await store.GetAsync(LedgerKey(ledgerId), cancellationToken);
        return value is null ? null : new Versioned<LedgerMetadata>(Deserialize(ledgerId, value.Value.Span), value.Version);
    }

    /// <inheritdoc />
    public async Task<Versioned<LedgerMetadata>> WriteAsync(LedgerMetadata metadata, long expectedVersion, CancellationToken cancellationToken)
    {
        if (metadata.Validate() is string problem)
        {
            throw new DlException(StatusCode.MetadataException, $"Refusing to write invalid metadata for ledger {metadata.LedgerId}: {problem}.");
        }

        string key = LedgerKey(metadata.LedgerId);
        var result = await store.CommitAsync(new MetadataTransaction().IfVersion(key, expectedVersion).Put(key, Serialize(metadata)), cancellationToken);
        if (!result.Succeeded)
        {
            throw new DlException(StatusCode.MetadataVersionConflict,
                $"Ledger {metadata.LedgerId}'s metadata changed since version {expectedVersion} (or the ledger was deleted).");
        }

        return new Versioned<LedgerMetadata>(metadata, result.Revision);
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(long ledgerId, CancellationToken cancellationToken) =>
        await store.DeleteAsync(LedgerKey(ledgerId), cancellationToken);

    private static byte[] Serialize(LedgerMetadata metadata) => JsonSerializer.SerializeToUtf8Bytes(metadata, LedgerMetadataJson.Default.LedgerMetadata);

    private static LedgerMetadata Deserialize(long ledgerId, ReadOnlySpan<byte> json) => LedgerMetadata.FromJson(ledgerId, json);
}
