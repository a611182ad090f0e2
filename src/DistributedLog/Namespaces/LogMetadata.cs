using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Segments;

namespace DistributedLog.Namespaces;

/// <summary>
/// A log's own record (<c>dl/&lt;ns&gt;/logs/&lt;log&gt;</c>): one versioned value holding the highest txid and LSSN, so
/// that starting a segment and raising them is one compare-and-set.
/// </summary>
public sealed record LogMetadata
{
    /// <summary>The format version this code writes.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Format version of this record.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>When the log was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Highest txid of any completed segment (-1: none). <see cref="long.MaxValue"/> once end of stream is marked.</summary>
    public long MaxTxId { get; init; } = -1;

    /// <summary>Highest log segment sequence number used (0: no segment yet).</summary>
    public long MaxLssn { get; init; }

    /// <summary>Fields written by newer code, kept on rewrite.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? UnknownFields { get; set; }
}

/// <summary>JSON of the log-level metadata records (source-generated).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LogSegmentMetadata))]
[JsonSerializable(typeof(LogMetadata))]
public sealed partial class LogMetadataJson : JsonSerializerContext;
