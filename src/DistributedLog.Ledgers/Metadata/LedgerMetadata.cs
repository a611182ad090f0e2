using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Metadata;

/// <summary>The life-cycle state of a ledger in its metadata.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LedgerState>))]
public enum LedgerState
{
    /// <summary>A writer may add entries.</summary>
    Open,
    /// <summary>A recovering client fenced the ledger and is finding its end.</summary>
    InRecovery,
    /// <summary>The last entry id is final.</summary>
    Closed,
}

/// <summary>The bookies that store the entries from <see cref="FirstEntryId"/> on (until the next segment).</summary>
/// <param name="FirstEntryId">The first entry written to this ensemble.</param>
/// <param name="Bookies">The ensemble, by bookie id; entry <c>e</c> goes to positions <c>(e + k) mod E</c>, <c>k &lt; Qw</c>.</param>
public sealed record EnsembleSegment(long FirstEntryId, IReadOnlyList<string> Bookies);

/// <summary>
/// A ledger's metadata, stored versioned in the metadata store and changed only by compare-and-set: quorum sizes, the
/// ensemble history (one segment per ensemble change), state, and — once closed — the last entry id and length.
/// Serialized as JSON with a <see cref="FormatVersion"/>; unknown fields are ignored so newer writers stay readable.
/// </summary>
public sealed record LedgerMetadata
{
    /// <summary>The format version this code writes.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Format version of this record.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The ledger id.</summary>
    public required long LedgerId { get; init; }

    /// <summary>Ensemble size E.</summary>
    public required int EnsembleSize { get; init; }

    /// <summary>Write quorum Qw: copies of each entry.</summary>
    public required int WriteQuorumSize { get; init; }

    /// <summary>Ack quorum Qa: copies that must be durable before an add is acknowledged.</summary>
    public required int AckQuorumSize { get; init; }

    /// <summary>Life-cycle state.</summary>
    public LedgerState State { get; init; } = LedgerState.Open;

    /// <summary>The last entry id once <see cref="LedgerState.Closed"/> (-1: empty); -1 while open.</summary>
    public long LastEntryId { get; init; } = -1;

    /// <summary>Total payload bytes once closed.</summary>
    public long Length { get; init; }

    /// <summary>The ensemble history, ordered by first entry id; the last one is where new entries go.</summary>
    public required IReadOnlyList<EnsembleSegment> Ensembles { get; init; }

    /// <summary>The master key bookies check on every add and fence (the writer token).</summary>
    public required byte[] MasterKey { get; init; }

    /// <summary>When the ledger was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Application data attached at creation (DistributedLog stores its segment info elsewhere; free for users).</summary>
    public IReadOnlyDictionary<string, string> CustomMetadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Fields written by a newer version of this code, kept so that a compare-and-set rewrite does not drop them.</summary>
    [JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? UnknownFields { get; set; }

    /// <summary>Whether the ledger is closed.</summary>
    [JsonIgnore]
    public bool IsClosed => State == LedgerState.Closed;

    /// <summary>The ensemble that stores <paramref name="entryId"/>.</summary>
    public IReadOnlyList<string> EnsembleAt(long entryId)
    {
        var ensembles = Ensembles;
        for (int i = ensembles.Count - 1; i > 0; i--)
        {
            if (ensembles[i].FirstEntryId <= entryId)
            {
                return ensembles[i].Bookies;
            }
        }

        return ensembles[0].Bookies;
    }

    /// <summary>The ensemble new entries go to.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> CurrentEnsemble => Ensembles[^1].Bookies;

    /// <summary>
    /// Decodes stored metadata of ledger <paramref name="ledgerId"/> and checks it: the JSON must be readable, every
    /// required field present and not null, the invariants of <see cref="Validate"/> hold, the ledger id match, and the
    /// format version be one this code understands.
    /// </summary>
    /// <exception cref="DlException"><see cref="StatusCode.MetadataException"/> for unreadable or invalid metadata,
    /// <see cref="StatusCode.UnsupportedMetadataVersion"/> for a newer format.</exception>
    public static LedgerMetadata FromJson(long ledgerId, ReadOnlySpan<byte> json)
    {
        LedgerMetadata? metadata;
        try
        {
            metadata = JsonSerializer.Deserialize(json, LedgerMetadataJson.Default.LedgerMetadata);
        }
        catch (JsonException e)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata of ledger {ledgerId} is unreadable: {e.Message}");
        }

        if (metadata is null)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata of ledger {ledgerId} is invalid: empty.");
        }

        if (metadata.FormatVersion > CurrentFormatVersion)
        {
            throw new DlException(StatusCode.UnsupportedMetadataVersion,
                $"Ledger {ledgerId} was written in metadata format {metadata.FormatVersion}; this version understands up to {CurrentFormatVersion}.");
        }

        string? problem = metadata.Validate();
        if (problem is null && metadata.LedgerId != ledgerId)
        {
            problem = $"it names ledger {metadata.LedgerId}";
        }

        if (problem is not null)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata of ledger {ledgerId} is invalid: {problem}.");
        }

        return metadata;
    }

    /// <summary>Checks the invariants (E ≥ Qw ≥ Qa ≥ 1, ensembles of size E, increasing first entries); returns what is wrong, or null.</summary>
    public string? Validate()
    {
        // Decoded JSON may hold nulls where the types do not allow them: check before anything dereferences them.
        if (Ensembles is null || MasterKey is null || CustomMetadata is null)
        {
            return "a required field is null";
        }

        if (Ensembles.Any(e => e?.Bookies is null || e.Bookies.Any(b => b is null)) || CustomMetadata.Values.Any(v => v is null))
        {
            return "an ensemble, a bookie id or a custom value is null";
        }

        if (LedgerId < 0 || FormatVersion < 1)
        {
            return $"ledger id {LedgerId} or format version {FormatVersion} is out of range";
        }

        if (AckQuorumSize < 1 || WriteQuorumSize < AckQuorumSize || EnsembleSize < WriteQuorumSize)
        {
            return $"quorums must satisfy E >= Qw >= Qa >= 1 (E={EnsembleSize}, Qw={WriteQuorumSize}, Qa={AckQuorumSize})";
        }

        if (WriteQuorumSize > 32)
        {
            return $"write quorum {WriteQuorumSize} exceeds the supported 32";
        }

        if (Ensembles.Count == 0)
        {
            return "no ensemble";
        }

        long previous = -1;
        foreach (var segment in Ensembles)
        {
            if (segment.Bookies.Count != EnsembleSize)
            {
                return $"ensemble from entry {segment.FirstEntryId} has {segment.Bookies.Count} bookies, not {EnsembleSize}";
            }

            if (segment.FirstEntryId <= previous && !(previous == -1 && segment.FirstEntryId == 0))
            {
                return "ensemble segments are not in increasing entry order";
            }

            if (segment.Bookies.Distinct(StringComparer.Ordinal).Count() != segment.Bookies.Count)
            {
                return $"ensemble from entry {segment.FirstEntryId} names a bookie twice";
            }

            previous = segment.FirstEntryId;
        }

        return MasterKey.Length is 0 or > 64 ? "master key must be 1..64 bytes" : null;
    }
}

/// <summary>A value with the metadata-store version it was read at (for compare-and-set).</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="Value">The value.</param>
/// <param name="Version">The store's version of the key holding it.</param>
public sealed record Versioned<T>(T Value, long Version);

/// <summary>JSON serialization of ledger metadata (source-generated).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(LedgerMetadata))]
public sealed partial class LedgerMetadataJson : JsonSerializerContext;
