using DistributedLog.Protocol.Records;

namespace DistributedLog.Client;

/// <summary>What <see cref="DistributedLogClient.DescribeLogAsync"/> reports of a log.</summary>
public sealed record LogDescription
{
    /// <summary>The log's name.</summary>
    public required string Name { get; init; }

    /// <summary>Its segments, oldest first.</summary>
    public required IReadOnlyList<LogSegmentInfo> Segments { get; init; }

    /// <summary>The first readable record's DLSN, or null when the log has no records.</summary>
    public Dlsn? FirstDlsn { get; init; }

    /// <summary>The last record's DLSN, or null when the log has no records.</summary>
    public Dlsn? LastDlsn { get; init; }

    /// <summary>The last record's txid, or -1.</summary>
    public long LastTxId { get; init; } = -1;

    /// <summary>Number of user records (control records are not counted).</summary>
    public long RecordCount { get; init; }

    /// <summary>Whether the log was sealed by an end-of-stream record.</summary>
    public bool EndOfStream { get; init; }

    /// <summary>The proxy that owns the log's writer, or null.</summary>
    public string? Owner { get; init; }
}

/// <summary>One log segment as reported by a proxy.</summary>
/// <param name="Lssn">Log segment sequence number.</param>
/// <param name="LedgerId">The ledger holding it.</param>
/// <param name="InProgress">Whether a writer is still appending to it.</param>
/// <param name="FirstTxId">First txid.</param>
/// <param name="LastTxId">Last txid (-1 while in progress).</param>
/// <param name="RecordCount">Its user records (0 while in progress).</param>
/// <param name="StartSequenceId">Sequence id of its first record.</param>
/// <param name="Truncation">Active, PartiallyTruncated or Truncated.</param>
/// <param name="CreatedAt">When it was started.</param>
/// <param name="CompletedAt">When it was completed, or null.</param>
public sealed record LogSegmentInfo(long Lssn, long LedgerId, bool InProgress, long FirstTxId, long LastTxId, long RecordCount, long StartSequenceId,
    string Truncation, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);
