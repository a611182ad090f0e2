using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// One record of an entry as the <see cref="EntryReader"/> yields it, without copying: its payload points into the
/// entry (or into the reader's decompression buffer) and is valid only until the enumeration moves on.
/// Inner records of a record set come out one by one, each with its own slot.
/// </summary>
public readonly ref struct LogRecordView
{
    internal LogRecordView(long txId, LogRecordFlags flags, int positionWithinSegment, long slotId, ReadOnlySpan<byte> payload)
    {
        TxId = txId;
        Flags = flags;
        PositionWithinSegment = positionWithinSegment;
        SlotId = slotId;
        Payload = payload;
    }

    /// <summary>The application transaction id (for a record set's inner records: the set's txid).</summary>
    public long TxId { get; }

    /// <summary>The flags (never <see cref="LogRecordFlags.RecordSet"/>: sets are unpacked).</summary>
    public LogRecordFlags Flags { get; }

    /// <summary>1-based running record number within the segment.</summary>
    public int PositionWithinSegment { get; }

    /// <summary>Slot of the record within its entry (0-based; the last part of its <see cref="Dlsn"/>).</summary>
    public long SlotId { get; }

    /// <summary>The payload; valid until the enumeration moves on.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Whether this is a control record (not for readers).</summary>
    public bool IsControl => (Flags & LogRecordFlags.Control) != 0;

    /// <summary>Whether this is the end-of-stream record.</summary>
    public bool IsEndOfStream => (Flags & LogRecordFlags.EndOfStream) != 0;

    /// <summary>The record's DLSN, given its entry's segment and entry id.</summary>
    public Dlsn GetDlsn(long logSegmentSequenceNo, long entryId) => new(logSegmentSequenceNo, entryId, SlotId);

    /// <summary>The record's sequence id, given its segment's start sequence id.</summary>
    public long GetSequenceId(long segmentStartSequenceId) =>
        LogRecordWithDlsn.ComputeSequenceId(segmentStartSequenceId, PositionWithinSegment);

    /// <summary>Copies the record into a <see cref="LogRecordWithDlsn"/> (allocates; not for hot loops).</summary>
    public LogRecordWithDlsn ToLogRecordWithDlsn(long logSegmentSequenceNo, long entryId, long segmentStartSequenceId) =>
        new(GetDlsn(logSegmentSequenceNo, entryId), GetSequenceId(segmentStartSequenceId), PositionWithinSegment,
            TxId, Flags, Payload.ToArray());
}
