using DistributedLog.Ledgers.Handles;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Readers;

/// <summary>
/// Reads shared by readers and log queries: where the active (not truncated) part of a log starts, how far a segment is
/// readable, and searches inside one segment. Segments are always opened without recovery.
/// </summary>
internal static class SegmentReads
{
    /// <summary>
    /// The first active position of a log: after every <see cref="TruncationStatus.Truncated"/> segment of the truncated
    /// prefix, at the <see cref="LogSegmentMetadata.MinActiveDlsn"/> of a partially truncated one. <paramref name="truncated"/>
    /// tells whether any segment carries a truncation mark (without one, nothing before the first segment is refused:
    /// purged segments are simply gone).
    /// </summary>
    public static Dlsn FirstActiveDlsn(IReadOnlyList<LogSegmentMetadata> segments, out bool truncated)
    {
        truncated = false;
        foreach (var segment in segments)
        {
            switch (segment.Truncation)
            {
                case TruncationStatus.Truncated:
                    truncated = true;
                    continue;
                case TruncationStatus.PartiallyTruncated:
                    truncated = true;
                    return MinActiveDlsn(segment);
                default:
                    return new Dlsn(segment.Lssn, 0, 0);
            }
        }

        return segments.Count == 0 ? Dlsn.Initial : new Dlsn(segments[^1].Lssn + 1, 0, 0);
    }

    /// <summary>The first readable position of a segment: its min active DLSN when partially truncated, else (lssn, 0, 0).</summary>
    public static Dlsn MinActiveDlsn(LogSegmentMetadata segment)
    {
        var start = new Dlsn(segment.Lssn, 0, 0);
        if (segment.Truncation == TruncationStatus.PartiallyTruncated
            && Dlsn.TryParse(segment.MinActiveDlsn, out var min)
            && min.LogSegmentSequenceNo == segment.Lssn
            && min > start)
        {
            return min;
        }

        return start;
    }

    /// <summary>The last entry a reader may read now: the completed segment's last entry, or the in-progress ledger's LAC.</summary>
    public static long LastReadableEntry(LogSegmentMetadata segment, LedgerReader ledger) =>
        segment.IsInProgress ? ledger.LastAddConfirmed : segment.LastEntryId;

    /// <summary>
    /// Binary search for the first entry in [<paramref name="first"/>, <paramref name="last"/>] holding a record with txid ≥
    /// <paramref name="txId"/> (control records count with the txid they carry, the last user txid); -1 when none.
    /// Assumes txids do not decrease within the segment, as DistributedLog's search does.
    /// </summary>
    public static async Task<long> FindFirstEntryWithTxIdAsync(LedgerReader ledger, long first, long last, long txId, CancellationToken cancellationToken)
    {
        long found = -1;
        long lo = first, hi = last;
        using var decoder = new EntryReader();
        while (lo <= hi)
        {
            long mid = lo + ((hi - lo) / 2);
            var entry = await ledger.ReadEntryAsync(mid, cancellationToken);
            if (MaxTxId(decoder, entry.Payload.Span) >= txId)
            {
                found = mid;
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return found;
    }

    /// <summary>Decodes one entry of a segment into records (control records included; for queries, not hot paths).</summary>
    public static async Task<List<LogRecordWithDlsn>> ReadRecordsAsync(LedgerReader ledger, LogSegmentMetadata segment, long entryId, CancellationToken cancellationToken)
    {
        var entry = await ledger.ReadEntryAsync(entryId, cancellationToken);
        return EntryReader.ReadAll(entry.Payload.Span, segment.Lssn, entryId, segment.StartSequenceId);
    }

    private static long MaxTxId(EntryReader decoder, ReadOnlySpan<byte> entry)
    {
        long max = long.MinValue;
        foreach (var record in decoder.Read(entry))
        {
            max = Math.Max(max, record.TxId);
        }

        return max;
    }
}
