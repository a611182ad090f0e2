using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Naming;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Readers;

/// <summary>
/// Log-level read queries of DistributedLog's <c>DistributedLogManager</c>: first and last record, last DLSN and txid,
/// record count, and the first DLSN not less than a txid. In-progress segments are read without recovery, up to the LAC;
/// truncated segments are never read. Only user records count: control and end-of-stream records are invisible.
/// </summary>
/// <param name="ns">The namespace holding the logs.</param>
/// <param name="ledgers">The ledger client used to read segments.</param>
public sealed class LogQueries(NamespaceMetadata ns, LedgerClient ledgers)
{
    /// <summary>The first user record still readable (at or after the first active position).</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record.</exception>
    public async Task<LogRecordWithDlsn> GetFirstRecordAsync(string logName, CancellationToken cancellationToken = default)
    {
        var (name, segments) = await LoadAsync(logName, cancellationToken);
        var firstActive = SegmentReads.FirstActiveDlsn(segments, out _);
        foreach (var segment in segments)
        {
            if (segment.Lssn < firstActive.LogSegmentSequenceNo || segment.Truncation == TruncationStatus.Truncated
                || (!segment.IsInProgress && segment.RecordCount == 0))
            {
                continue;
            }

            var ledger = await ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
            long last = SegmentReads.LastReadableEntry(segment, ledger);
            long from = segment.Lssn == firstActive.LogSegmentSequenceNo ? Math.Max(0, firstActive.EntryId) : 0;
            for (long e = from; e <= last; e++)
            {
                foreach (var record in await SegmentReads.ReadRecordsAsync(ledger, segment, e, cancellationToken))
                {
                    if (!record.IsControl && record.Dlsn >= firstActive)
                    {
                        return record;
                    }
                }
            }
        }

        throw Empty(name);
    }

    /// <summary>The DLSN of the first readable user record.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record.</exception>
    public async Task<Dlsn> GetFirstDlsnAsync(string logName, CancellationToken cancellationToken = default) =>
        (await GetFirstRecordAsync(logName, cancellationToken)).Dlsn;

    /// <summary>
    /// The last user record (the end-of-stream record excluded), found from the last segment backwards; an in-progress
    /// segment is read up to its LAC, without recovery.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record.</exception>
    public async Task<LogRecordWithDlsn> GetLastRecordAsync(string logName, CancellationToken cancellationToken = default)
    {
        var (name, segments) = await LoadAsync(logName, cancellationToken);
        return await FindLastRecordAsync(segments, cancellationToken) ?? throw Empty(name);
    }

    /// <summary>The DLSN of the last user record.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record.</exception>
    public async Task<Dlsn> GetLastDlsnAsync(string logName, CancellationToken cancellationToken = default) =>
        (await GetLastRecordAsync(logName, cancellationToken)).Dlsn;

    /// <summary>The txid of the last user record.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record.</exception>
    public async Task<long> GetLastTxIdAsync(string logName, CancellationToken cancellationToken = default) =>
        (await GetLastRecordAsync(logName, cancellationToken)).TxId;

    /// <summary>
    /// Counts the user records from the first active position: completed segments by their record count, the in-progress
    /// one by the position of its last record up to the LAC. Truncated records (whole segments, and the part of a
    /// partially truncated segment before its min active DLSN) do not count.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public Task<long> GetRecordCountAsync(string logName, CancellationToken cancellationToken = default) =>
        GetRecordCountAsync(logName, Dlsn.Invalid, cancellationToken);

    /// <summary>Counts the readable user records at or after <paramref name="from"/> (DistributedLog's <c>getLogRecordCountAsync(beginDLSN)</c>).</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task<long> GetRecordCountAsync(string logName, Dlsn from, CancellationToken cancellationToken = default)
    {
        var (_, segments) = await LoadAsync(logName, cancellationToken);
        var firstActive = SegmentReads.FirstActiveDlsn(segments, out bool truncated);
        var begin = truncated && firstActive > from ? firstActive : from;
        long total = 0;
        foreach (var segment in segments)
        {
            if (segment.Lssn < begin.LogSegmentSequenceNo || segment.Truncation == TruncationStatus.Truncated)
            {
                continue;
            }

            LedgerReader? ledger = null;
            long count = segment.RecordCount;
            if (segment.IsInProgress)
            {
                ledger = await ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
                long lac = ledger.LastAddConfirmed;
                count = lac < 0 ? 0 : LastPosition(await SegmentReads.ReadRecordsAsync(ledger, segment, lac, cancellationToken));
            }

            if (segment.Lssn == begin.LogSegmentSequenceNo && begin > new Dlsn(segment.Lssn, 0, 0) && count > 0)
            {
                ledger ??= await ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
                long next = await NextPositionAsync(ledger, segment, begin, cancellationToken);
                count = Math.Max(0, count - (next - 1));
            }

            total += count;
        }

        return total;
    }

    /// <summary>
    /// The DLSN of the first user record with txid ≥ <paramref name="txId"/> (DistributedLog's <c>getDLSNNotLessThanTxId</c>):
    /// the first active position when <paramref name="txId"/> is below the first segment's first txid; the last DLSN's
    /// <see cref="Dlsn.Next"/> when no record has such a txid. Binary search over the segments' txid ranges, then over the
    /// entries of the segment.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LogEmptyException">The log has no readable user record (no segment, or only control records).</exception>
    public async Task<Dlsn> GetDlsnNotLessThanTxIdAsync(string logName, long txId, CancellationToken cancellationToken = default)
    {
        var (name, segments) = await LoadAsync(logName, cancellationToken);
        var firstActive = SegmentReads.FirstActiveDlsn(segments, out _);
        var active = new List<LogSegmentMetadata>(segments.Count);
        foreach (var segment in segments)
        {
            if (segment.Lssn >= firstActive.LogSegmentSequenceNo && segment.Truncation != TruncationStatus.Truncated)
            {
                active.Add(segment);
            }
        }

        if (active.Count == 0)
        {
            throw Empty(name);
        }

        if (active[0].Truncation == TruncationStatus.Active && txId < active[0].FirstTxId)
        {
            return new Dlsn(active[0].Lssn, 0, 0);
        }

        // Completed segments' last txids do not decrease (a segment may not start below the log's max txid): binary search
        // for the first that may hold txid >= T; the in-progress segment is always a candidate.
        int lo = 0, hi = active.Count - 1, start = active.Count;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) / 2);
            if (active[mid].IsInProgress || active[mid].LastTxId >= txId)
            {
                start = mid;
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }

        for (int i = start; i < active.Count; i++)
        {
            var segment = active[i];
            if (!segment.IsInProgress && (segment.RecordCount == 0 || segment.LastTxId < txId))
            {
                continue;
            }

            var ledger = await ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
            long last = SegmentReads.LastReadableEntry(segment, ledger);
            long from = segment.Lssn == firstActive.LogSegmentSequenceNo ? Math.Max(0, firstActive.EntryId) : 0;
            if (last < from)
            {
                continue;
            }

            long found = await SegmentReads.FindFirstEntryWithTxIdAsync(ledger, from, last, txId, cancellationToken);
            for (long e = found; found >= 0 && e <= last; e++)
            {
                foreach (var record in await SegmentReads.ReadRecordsAsync(ledger, segment, e, cancellationToken))
                {
                    if (!record.IsControl && record.TxId >= txId && record.Dlsn >= firstActive)
                    {
                        return record.Dlsn;
                    }
                }
            }
        }

        var lastRecord = await FindLastRecordAsync(segments, cancellationToken) ?? throw Empty(name);
        return lastRecord.Dlsn.Next();
    }

    /// <summary>Whether the log's end of stream is marked (its max txid is <see cref="long.MaxValue"/>).</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task<bool> IsEndOfStreamMarkedAsync(string logName, CancellationToken cancellationToken = default)
    {
        var (log, _) = await ns.GetLogAsync(logName, cancellationToken);
        return log.MaxTxId == LogRecord.EndOfStreamTxId;
    }

    /// <summary>
    /// Where the log's readable records start, from metadata only (no bookie read): the first active position (after any
    /// truncation), whether a truncation mark makes positions before it an error for a reader positioned by DLSN (as
    /// <see cref="LogReader.OpenAsync"/> decides), and when the log was created (which tells a log from a later one of the
    /// same name).
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task<LogActiveStart> GetActiveStartAsync(string logName, CancellationToken cancellationToken = default)
    {
        string name = LogName.Validate(logName);
        var (log, _) = await ns.GetLogAsync(name, cancellationToken);
        var listing = await ns.GetSegmentsAsync(name, cancellationToken);
        var segments = new List<LogSegmentMetadata>(listing.Count);
        foreach (var (segment, _) in listing)
        {
            segments.Add(segment);
        }

        var first = SegmentReads.FirstActiveDlsn(segments, out bool truncated);
        return new LogActiveStart(first, truncated, log.CreatedAt);
    }

    private async Task<(string Name, List<LogSegmentMetadata> Segments)> LoadAsync(string logName, CancellationToken cancellationToken)
    {
        string name = LogName.Validate(logName);
        _ = await ns.GetLogAsync(name, cancellationToken);
        var listing = await ns.GetSegmentsAsync(name, cancellationToken);
        var segments = new List<LogSegmentMetadata>(listing.Count);
        foreach (var (segment, _) in listing)
        {
            segments.Add(segment);
        }

        return (name, segments);
    }

    private async Task<LogRecordWithDlsn?> FindLastRecordAsync(List<LogSegmentMetadata> segments, CancellationToken cancellationToken)
    {
        for (int i = segments.Count - 1; i >= 0; i--)
        {
            var segment = segments[i];
            if (segment.Truncation == TruncationStatus.Truncated)
            {
                break;
            }

            if (!segment.IsInProgress && segment.RecordCount == 0)
            {
                continue;
            }

            var minActive = SegmentReads.MinActiveDlsn(segment);
            var ledger = await ledgers.OpenLedgerNoRecoveryAsync(segment.LedgerId, cancellationToken);
            for (long e = SegmentReads.LastReadableEntry(segment, ledger); e >= minActive.EntryId; e--)
            {
                var records = await SegmentReads.ReadRecordsAsync(ledger, segment, e, cancellationToken);
                for (int j = records.Count - 1; j >= 0; j--)
                {
                    if (!records[j].IsControl)
                    {
                        return records[j].Dlsn >= minActive ? records[j] : null;
                    }
                }
            }

            if (segment.Truncation == TruncationStatus.PartiallyTruncated)
            {
                break;
            }
        }

        return null;
    }

    /// <summary>
    /// The position (within the segment) of the first user record at or after <paramref name="begin"/>: read from the entry
    /// holding it. A control record carries the position of the last user record before it, so the next one is one more.
    /// </summary>
    private static async Task<long> NextPositionAsync(LedgerReader ledger, LogSegmentMetadata segment, Dlsn begin, CancellationToken cancellationToken)
    {
        long last = SegmentReads.LastReadableEntry(segment, ledger);
        if (begin.EntryId > last)
        {
            return long.MaxValue / 2;
        }

        var records = await SegmentReads.ReadRecordsAsync(ledger, segment, Math.Max(0, begin.EntryId), cancellationToken);
        foreach (var record in records)
        {
            if (record.Dlsn >= begin)
            {
                return record.IsControl ? record.PositionWithinSegment + 1L : record.PositionWithinSegment;
            }
        }

        return records.Count == 0 ? 1 : LastPosition(records) + 1;
    }

    /// <summary>The user-record count an entry ends at: the position of its last record (a control record carries the last user position).</summary>
    private static long LastPosition(List<LogRecordWithDlsn> records) => records.Count == 0 ? 0 : records[^1].PositionWithinSegment;

    private LogEmptyException Empty(string name) =>
        new($"Log '{name}' in namespace '{ns.Layout.Name}' has no readable user record.");
}

/// <summary>Where a log's readable records start (see <see cref="LogQueries.GetActiveStartAsync"/>).</summary>
/// <param name="FirstActive">The first active position: no record before it is readable.</param>
/// <param name="Truncated">Whether a segment carries a truncation mark (a DLSN before <paramref name="FirstActive"/> is then refused).</param>
/// <param name="CreatedAt">When the log was created.</param>
public readonly record struct LogActiveStart(Dlsn FirstActive, bool Truncated, DateTimeOffset CreatedAt);
