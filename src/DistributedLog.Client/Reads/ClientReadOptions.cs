using DistributedLog.Protocol.Records;

namespace DistributedLog.Client;

/// <summary>Where a <see cref="DistributedLogClient.ReadAsync"/> starts and when it ends.</summary>
public sealed class ClientReadOptions
{
    /// <summary>Start at this DLSN (default: the first record). At most one of <see cref="From"/>, <see cref="FromTxId"/>, <see cref="Subscriber"/>.</summary>
    public Dlsn? From { get; init; }

    /// <summary>Start at the first record whose txid is at least this.</summary>
    public long? FromTxId { get; init; }

    /// <summary>Start after this subscriber's committed position.</summary>
    public string? Subscriber { get; init; }

    /// <summary>Stop after this many records (0: no limit).</summary>
    public long Count { get; init; }

    /// <summary>Tail the log instead of stopping at its end (the end when the read started).</summary>
    public bool Follow { get; init; }

    internal void Validate()
    {
        int starts = (From is null ? 0 : 1) + (FromTxId is null ? 0 : 1) + (Subscriber is null ? 0 : 1);
        if (starts > 1)
        {
            throw new ArgumentException("Give at most one start position: a DLSN, a txid or a subscriber.");
        }

        if (FromTxId < 0)
        {
            throw new ArgumentException($"The start txid must not be negative (got {FromTxId}).");
        }

        if (Count < 0)
        {
            throw new ArgumentException($"The record count must not be negative (got {Count}).");
        }
    }
}
