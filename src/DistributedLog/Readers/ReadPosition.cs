using DistributedLog.Protocol.Records;

namespace DistributedLog.Readers;

/// <summary>How a <see cref="ReadPosition"/> names the first record to read.</summary>
public enum ReadPositionKind
{
    /// <summary>The first record whose DLSN is at or after <see cref="ReadPosition.Dlsn"/>.</summary>
    Dlsn,

    /// <summary>The first record (in log order) whose txid is at or above <see cref="ReadPosition.TxId"/>.</summary>
    TxId,
}

/// <summary>
/// Where a <see cref="LogReader"/> starts: at a DLSN (exact, no search) or at a transaction id (the first record with
/// txid ≥ T, found with the segments' txid ranges and a binary search inside the segment).
/// </summary>
/// <remarks>
/// A DLSN before the first active (not truncated) position is refused with
/// <see cref="Protocol.Errors.TruncatedPositionException"/>, as in DistributedLog. A txid position never is: the reader
/// starts at the first active record with txid ≥ T. A position beyond the end of the log is allowed: the reader waits for
/// new records.
/// </remarks>
public readonly record struct ReadPosition
{
    private ReadPosition(ReadPositionKind kind, Dlsn dlsn, long txId)
    {
        Kind = kind;
        Dlsn = dlsn;
        TxId = txId;
    }

    /// <summary>The oldest record still readable: the first active record after any truncation.</summary>
    public static ReadPosition Earliest => new(ReadPositionKind.TxId, default, long.MinValue);

    /// <summary>How the position is given.</summary>
    public ReadPositionKind Kind { get; }

    /// <summary>With <see cref="ReadPositionKind.Dlsn"/>: the DLSN to start at.</summary>
    public Dlsn Dlsn { get; }

    /// <summary>With <see cref="ReadPositionKind.TxId"/>: the smallest txid to return first.</summary>
    public long TxId { get; }

    /// <summary>Starts at the first record whose DLSN is ≥ <paramref name="dlsn"/>.</summary>
    public static ReadPosition FromDlsn(Dlsn dlsn) => new(ReadPositionKind.Dlsn, dlsn, 0);

    /// <summary>Starts at the first record whose txid is ≥ <paramref name="txId"/>.</summary>
    public static ReadPosition FromTxId(long txId) => new(ReadPositionKind.TxId, default, txId);

    /// <inheritdoc />
    public override string ToString() => Kind == ReadPositionKind.Dlsn ? $"DLSN {Dlsn}" : $"txid {TxId}";
}
