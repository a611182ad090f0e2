using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Segments;

/// <summary>Whether a log segment is still being written.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LogSegmentState>))]
public enum LogSegmentState
{
    /// <summary>The segment being written (at most one per log).</summary>
    InProgress,
    /// <summary>Completed: its last entry, slot, txid and record count are final.</summary>
    Completed,
}

/// <summary>How much of a completed segment truncation removed (DistributedLog's TruncationStatus).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TruncationStatus>))]
public enum TruncationStatus
{
    /// <summary>Nothing truncated.</summary>
    Active,
    /// <summary>Records before <see cref="LogSegmentMetadata.MinActiveDlsn"/> are truncated.</summary>
    PartiallyTruncated,
    /// <summary>The whole segment is truncated (its ledger is deleted later).</summary>
    Truncated,
}

/// <summary>
/// One log segment (one ledger) of a log: DistributedLog's segment metadata (layout version 5) as a JSON record.
/// Stored at <c>dl/&lt;ns&gt;/segments/&lt;log&gt;/&lt;lssn, 18 digits&gt;</c> and changed only by compare-and-set.
/// </summary>
public sealed record LogSegmentMetadata
{
    /// <summary>The format version this code writes.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Format version of this record.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The log segment sequence number (starts at 1, rises by one).</summary>
    public required long Lssn { get; init; }

    /// <summary>The ledger holding the segment's entries.</summary>
    public required long LedgerId { get; init; }

    /// <summary>State.</summary>
    public LogSegmentState State { get; init; } = LogSegmentState.InProgress;

    /// <summary>Txid of the segment's first record.</summary>
    public required long FirstTxId { get; init; }

    /// <summary>Txid of the segment's last user record (once completed; -1 while in progress).</summary>
    public long LastTxId { get; init; } = -1;

    /// <summary>Last entry id of the ledger (once completed).</summary>
    public long LastEntryId { get; init; } = -1;

    /// <summary>Slot of the last record in the last entry (once completed).</summary>
    public long LastSlotId { get; init; } = -1;

    /// <summary>User records in the segment (once completed; control records are not counted).</summary>
    public long RecordCount { get; init; }

    /// <summary>Sequence id of the segment's first record: records before it in the log.</summary>
    public long StartSequenceId { get; init; }

    /// <summary>When the segment was completed.</summary>
    public DateTimeOffset? CompletionTime { get; init; }

    /// <summary>When the segment was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Truncation status.</summary>
    public TruncationStatus Truncation { get; init; } = TruncationStatus.Active;

    /// <summary>With <see cref="TruncationStatus.PartiallyTruncated"/>: the first DLSN still readable, in text form (<c>lssn:entry:slot</c>).</summary>
    public string? MinActiveDlsn { get; init; }

    /// <summary>Fields written by newer code, kept on rewrite.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? UnknownFields { get; set; }

    /// <summary>
    /// Decodes the segment record stored at <paramref name="key"/> and checks what no writer can produce (a sequence
    /// number below 1, a negative ledger id or record count, an unknown format version).
    /// </summary>
    /// <exception cref="DlException"><see cref="StatusCode.MetadataException"/> for an unreadable or invalid record,
    /// <see cref="StatusCode.UnsupportedMetadataVersion"/> for a newer format.</exception>
    public static LogSegmentMetadata FromJson(string key, ReadOnlySpan<byte> json)
    {
        LogSegmentMetadata? segment;
        try
        {
            segment = JsonSerializer.Deserialize(json, LogMetadataJson.Default.LogSegmentMetadata);
        }
        catch (JsonException e)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata record '{key}' is unreadable: {e.Message}");
        }

        if (segment is null)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata record '{key}' is unreadable: empty record");
        }

        if (segment.FormatVersion > CurrentFormatVersion)
        {
            throw new DlException(StatusCode.UnsupportedMetadataVersion,
                $"The segment record '{key}' is in format {segment.FormatVersion}; this version understands up to {CurrentFormatVersion}.");
        }

        if (segment.FormatVersion < 1 || segment.Lssn < 1 || segment.LedgerId < 0 || segment.RecordCount < 0)
        {
            throw new DlException(StatusCode.MetadataException,
                $"The segment record '{key}' is invalid: format {segment.FormatVersion}, lssn {segment.Lssn}, ledger {segment.LedgerId}, " +
                $"{segment.RecordCount} records.");
        }

        return segment;
    }

    /// <summary>Whether the segment is in progress.</summary>
    [JsonIgnore]
    public bool IsInProgress => State == LogSegmentState.InProgress;
}
