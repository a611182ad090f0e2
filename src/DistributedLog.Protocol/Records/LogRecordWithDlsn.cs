namespace DistributedLog.Protocol.Records;

/// <summary>
/// A record read back from a log, with its position: <see cref="Dlsn"/>, <see cref="SequenceId"/> and
/// <see cref="PositionWithinSegment"/>.
/// </summary>
public sealed class LogRecordWithDlsn
{
    /// <summary>Creates a read record.</summary>
    /// <param name="dlsn">The record's position.</param>
    /// <param name="sequenceId">The record's sequence id (see <see cref="ComputeSequenceId"/>).</param>
    /// <param name="positionWithinSegment">1-based running record number within its segment.</param>
    /// <param name="txId">The application transaction id.</param>
    /// <param name="flags">The flags (never <see cref="LogRecordFlags.RecordSet"/>: sets are unpacked on read).</param>
    /// <param name="payload">The payload.</param>
    public LogRecordWithDlsn(Dlsn dlsn, long sequenceId, int positionWithinSegment, long txId, LogRecordFlags flags, ReadOnlyMemory<byte> payload)
    {
        Dlsn = dlsn;
        SequenceId = sequenceId;
        PositionWithinSegment = positionWithinSegment;
        TxId = txId;
        Flags = flags;
        Payload = payload;
    }

    /// <summary>The record's position in the log.</summary>
    public Dlsn Dlsn { get; }

    /// <summary>
    /// The record's 0-based number in the whole log: segment start sequence id + position within segment − 1.
    /// The difference of two sequence ids is the number of records between them.
    /// </summary>
    public long SequenceId { get; }

    /// <summary>1-based running record number within the record's segment.</summary>
    public int PositionWithinSegment { get; }

    /// <summary>The application transaction id.</summary>
    public long TxId { get; }

    /// <summary>The flags.</summary>
    public LogRecordFlags Flags { get; }

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Whether this is a control record.</summary>
    public bool IsControl => (Flags & LogRecordFlags.Control) != 0;

    /// <summary>Whether this is the end-of-stream record.</summary>
    public bool IsEndOfStream => (Flags & LogRecordFlags.EndOfStream) != 0;

    /// <summary>Sequence id of a record: <paramref name="segmentStartSequenceId"/> + <paramref name="positionWithinSegment"/> − 1.</summary>
    public static long ComputeSequenceId(long segmentStartSequenceId, int positionWithinSegment) =>
        segmentStartSequenceId + positionWithinSegment - 1;

    /// <inheritdoc/>
    public override string ToString() => $"LogRecord(dlsn={Dlsn}, txid={TxId}, seq={SequenceId}, flags={Flags}, {Payload.Length} bytes)";
}
