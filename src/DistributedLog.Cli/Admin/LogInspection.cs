using System.Globalization;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Cli.Admin;

/// <summary>One inconsistency <c>dlog admin log inspect</c> found.</summary>
/// <param name="Kind">What kind (one of the <see cref="LogInspection"/> constants).</param>
/// <param name="Lssn">The segment it concerns, if one.</param>
/// <param name="LedgerId">The ledger it concerns, if one.</param>
/// <param name="Message">What is wrong, in words.</param>
internal sealed record LogFinding(string Kind, long? Lssn, long? LedgerId, string Message);

/// <summary>What <c>dlog admin log inspect</c> found.</summary>
/// <param name="Log">The log.</param>
/// <param name="Segments">Segment records read.</param>
/// <param name="Findings">Every inconsistency, in segment order.</param>
internal sealed record LogInspectionReport(string Log, int Segments, IReadOnlyList<LogFinding> Findings);

/// <summary>
/// DistributedLog's <c>dlck</c> for one log: reads the log record, every segment record and each segment's ledger
/// metadata, and reports what a correct writer, recovery and truncation never leave behind. Read-only; it repairs nothing.
/// </summary>
/// <remarks>
/// A gap in the segment sequence numbers alone is not an inconsistency: recovery removes an in-progress segment whose
/// ledger holds no entry (nothing was acknowledged in it), and the next segment takes the following number. A gap where
/// the start sequence ids do not continue either means records were lost with a segment record (<see cref="MissingSegment"/>).
/// </remarks>
internal static class LogInspection
{
    /// <summary>A segment record that does not decode.</summary>
    public const string UnreadableSegment = "unreadable-segment";

    /// <summary>A segment record stored under another segment's key.</summary>
    public const string SegmentKeyMismatch = "segment-key-mismatch";

    /// <summary>Segment records missing: an LSSN gap whose sequence ids do not continue, or the log's max txid beyond every segment.</summary>
    public const string MissingSegment = "missing-segment";

    /// <summary>The log record's highest LSSN is below a segment's.</summary>
    public const string MaxLssnBehind = "max-lssn-behind";

    /// <summary>A segment's start sequence id does not follow the previous segment's records.</summary>
    public const string SequenceIdGap = "sequence-id-gap";

    /// <summary>A segment's txids go backwards (last below first, or first below the previous segment's last).</summary>
    public const string TxIdOrder = "txid-order";

    /// <summary>An in-progress segment that is not the last one.</summary>
    public const string InProgressNotLast = "in-progress-not-last";

    /// <summary>The ledger of a segment that is not truncated has no metadata.</summary>
    public const string LedgerMissing = "ledger-missing";

    /// <summary>The ledger of a completed segment is not closed.</summary>
    public const string LedgerNotClosed = "ledger-not-closed";

    /// <summary>A completed segment's last entry differs from its closed ledger's.</summary>
    public const string LastEntryMismatch = "last-entry-mismatch";

    /// <summary>The ledger names another segment in its custom metadata.</summary>
    public const string LedgerMismatch = "ledger-mismatch";

    /// <summary>A truncation state that truncation never writes (out of order, on an in-progress segment, a bad min active DLSN).</summary>
    public const string TruncationState = "truncation-state";

    /// <summary>The ledger of a truncated segment still exists (its deletion failed; its space is not reclaimed).</summary>
    public const string TruncatedLedgerPresent = "truncated-ledger-present";

    /// <summary>Checks log <paramref name="log"/> of <paramref name="ns"/>.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public static async Task<LogInspectionReport> InspectAsync(DistributedLogNamespace ns, string log, CancellationToken cancellationToken)
    {
        var (record, _) = await ns.Metadata.GetLogAsync(log, cancellationToken);
        log = Naming.LogName.Validate(log);
        string prefix = ns.Metadata.Layout.Segments(log);
        var listing = await ns.Store.ListAsync(prefix, cancellationToken);
        var findings = new List<LogFinding>();
        var segments = new List<LogSegmentMetadata>(listing.Count);
        foreach (var item in listing)
        {
            LogSegmentMetadata segment;
            try
            {
                segment = LogSegmentMetadata.FromJson(item.Key, item.Value.Span);
            }
            catch (DlException e)
            {
                findings.Add(new LogFinding(UnreadableSegment, null, null, e.Message));
                continue;
            }

            string suffix = item.Key[prefix.Length..];
            if (suffix != segment.Lssn.ToString("D18", CultureInfo.InvariantCulture))
            {
                findings.Add(new LogFinding(SegmentKeyMismatch, segment.Lssn, segment.LedgerId, $"the record of segment {segment.Lssn} is stored under key '{item.Key}'."));
            }

            segments.Add(segment);
        }

        segments.Sort((a, b) => a.Lssn.CompareTo(b.Lssn));
        CheckSequence(record, segments, findings);
        CheckTruncation(segments, findings);
        await CheckLedgersAsync(ns, log, segments, findings, cancellationToken);
        return new LogInspectionReport(log, listing.Count,
            [.. findings.OrderBy(f => f.Lssn ?? long.MaxValue).ThenBy(f => f.Kind, StringComparer.Ordinal)]);
    }

    private static void CheckSequence(LogMetadata log, List<LogSegmentMetadata> segments, List<LogFinding> findings)
    {
        LogSegmentMetadata? previous = null;
        for (int i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            if (segment.IsInProgress && i != segments.Count - 1)
            {
                findings.Add(new LogFinding(InProgressNotLast, segment.Lssn, segment.LedgerId,
                    $"segment {segment.Lssn} is in progress but segments up to {segments[^1].Lssn} follow it; only the last segment may be in progress."));
            }

            if (!segment.IsInProgress && segment.LastTxId < segment.FirstTxId)
            {
                findings.Add(new LogFinding(TxIdOrder, segment.Lssn, segment.LedgerId,
                    $"completed segment {segment.Lssn} ends at txid {segment.LastTxId}, below its first txid {segment.FirstTxId}."));
            }

            if (previous is not null)
            {
                long expectedStart = previous.StartSequenceId + previous.RecordCount;
                bool sequenceContinues = previous.IsInProgress || segment.StartSequenceId == expectedStart;
                if (segment.Lssn != previous.Lssn + 1 && !sequenceContinues)
                {
                    string missing = segment.Lssn == previous.Lssn + 2 ? $"segment {previous.Lssn + 1} is" : $"segments {previous.Lssn + 1}..{segment.Lssn - 1} are";
                    findings.Add(new LogFinding(MissingSegment, segment.Lssn, null,
                        $"{missing} missing, and {segment.StartSequenceId - expectedStart} records with {(segment.Lssn == previous.Lssn + 2 ? "it" : "them")} " +
                        $"(segment {segment.Lssn} starts at sequence id {segment.StartSequenceId}, segment {previous.Lssn} ends before {expectedStart})."));
                }
                else if (!sequenceContinues)
                {
                    findings.Add(new LogFinding(SequenceIdGap, segment.Lssn, segment.LedgerId,
                        $"segment {segment.Lssn} starts at sequence id {segment.StartSequenceId}; segment {previous.Lssn} ends before {expectedStart}."));
                }

                if (!previous.IsInProgress && segment.FirstTxId < previous.LastTxId)
                {
                    findings.Add(new LogFinding(TxIdOrder, segment.Lssn, segment.LedgerId,
                        $"segment {segment.Lssn} starts at txid {segment.FirstTxId}, below the last txid {previous.LastTxId} of segment {previous.Lssn}."));
                }
            }

            previous = segment;
        }

        if (segments.Count > 0 && log.MaxLssn < segments[^1].Lssn)
        {
            findings.Add(new LogFinding(MaxLssnBehind, segments[^1].Lssn, null,
                $"the log record's highest segment number is {log.MaxLssn}, below segment {segments[^1].Lssn}."));
        }

        long lastTxId = segments.Where(s => !s.IsInProgress).Select(s => s.LastTxId).DefaultIfEmpty(-1).Max();
        if (log.MaxTxId != LogRecord.EndOfStreamTxId && log.MaxTxId > lastTxId)
        {
            long after = segments.Count == 0 ? 0 : segments[^1].Lssn;
            findings.Add(new LogFinding(MissingSegment, null, null,
                $"the log record's max txid {log.MaxTxId} is beyond the last txid of every completed segment ({lastTxId}): " +
                $"completed segments after {(after == 0 ? "the start" : $"segment {after}")} are missing (the log record says up to segment {log.MaxLssn})."));
        }
    }

    private static void CheckTruncation(List<LogSegmentMetadata> segments, List<LogFinding> findings)
    {
        // Truncation marks a prefix of the completed segments Truncated, then at most one PartiallyTruncated; the rest stay Active.
        bool activeSeen = false;
        foreach (var segment in segments)
        {
            if (segment.IsInProgress && segment.Truncation != TruncationStatus.Active)
            {
                findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId, $"in-progress segment {segment.Lssn} is marked {segment.Truncation}."));
            }

            switch (segment.Truncation)
            {
                case TruncationStatus.Truncated:
                    if (activeSeen)
                    {
                        findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId,
                            $"segment {segment.Lssn} is truncated but an earlier segment is not: truncation removes a prefix of the log."));
                    }

                    if (segment.MinActiveDlsn is not null)
                    {
                        findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId,
                            $"truncated segment {segment.Lssn} has a min active DLSN ({segment.MinActiveDlsn})."));
                    }

                    break;
                case TruncationStatus.PartiallyTruncated:
                    if (activeSeen)
                    {
                        findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId,
                            $"segment {segment.Lssn} is partially truncated but an earlier segment is not truncated."));
                    }

                    var last = new Dlsn(segment.Lssn, segment.LastEntryId, segment.LastSlotId);
                    if (!Dlsn.TryParse(segment.MinActiveDlsn, out var minActive) || minActive.LogSegmentSequenceNo != segment.Lssn
                        || (!segment.IsInProgress && minActive > last))
                    {
                        findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId,
                            $"partially truncated segment {segment.Lssn} has min active DLSN '{segment.MinActiveDlsn ?? "(none)"}', not a DLSN within it (up to {last})."));
                    }

                    activeSeen = true;
                    break;
                default:
                    if (segment.MinActiveDlsn is not null)
                    {
                        findings.Add(new LogFinding(TruncationState, segment.Lssn, segment.LedgerId,
                            $"active segment {segment.Lssn} has a min active DLSN ({segment.MinActiveDlsn})."));
                    }

                    activeSeen = true;
                    break;
            }
        }
    }

    private static async Task CheckLedgersAsync(DistributedLogNamespace ns, string log, List<LogSegmentMetadata> segments, List<LogFinding> findings,
        CancellationToken cancellationToken)
    {
        var ledgers = await Task.WhenAll(segments.Select(s => ReadLedgerAsync(ns.Ledgers.MetadataStore, s, cancellationToken)));
        for (int i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            var (ledger, problem) = ledgers[i];
            if (segment.Truncation == TruncationStatus.Truncated)
            {
                if (ledger is not null)
                {
                    findings.Add(new LogFinding(TruncatedLedgerPresent, segment.Lssn, segment.LedgerId,
                        $"segment {segment.Lssn} is truncated but its ledger {segment.LedgerId} still exists (its space is not reclaimed)."));
                }

                continue;
            }

            if (problem is not null)
            {
                findings.Add(new LogFinding(LedgerMissing, segment.Lssn, segment.LedgerId, $"the metadata of ledger {segment.LedgerId} of segment {segment.Lssn} is unreadable: {problem}"));
                continue;
            }

            if (ledger is null)
            {
                findings.Add(new LogFinding(LedgerMissing, segment.Lssn, segment.LedgerId,
                    $"ledger {segment.LedgerId} of {(segment.IsInProgress ? "in-progress" : "completed")} segment {segment.Lssn} does not exist: its records are lost."));
                continue;
            }

            // The writer records the segment number in the ledger (the log name too, but a rename does not rewrite ledgers).
            if (ledger.CustomMetadata.GetValueOrDefault("lssn") is string lssn && lssn != segment.Lssn.ToString(CultureInfo.InvariantCulture))
            {
                findings.Add(new LogFinding(LedgerMismatch, segment.Lssn, segment.LedgerId,
                    $"ledger {segment.LedgerId} of segment {segment.Lssn} was created for segment {lssn}" +
                    $"{(ledger.CustomMetadata.GetValueOrDefault("log") is string owner ? $" of log '{owner}'" : "")}."));
            }

            if (segment.IsInProgress)
            {
                continue;
            }

            if (!ledger.IsClosed)
            {
                findings.Add(new LogFinding(LedgerNotClosed, segment.Lssn, segment.LedgerId,
                    $"segment {segment.Lssn} is completed but its ledger {segment.LedgerId} is {ledger.State}."));
            }
            else if (ledger.LastEntryId != segment.LastEntryId)
            {
                findings.Add(new LogFinding(LastEntryMismatch, segment.Lssn, segment.LedgerId,
                    $"segment {segment.Lssn} ends at entry {segment.LastEntryId} but its closed ledger {segment.LedgerId} ends at entry {ledger.LastEntryId}."));
            }
        }
    }

    private static async Task<(LedgerMetadata? Ledger, string? Problem)> ReadLedgerAsync(ILedgerMetadataStore store, LogSegmentMetadata segment,
        CancellationToken cancellationToken)
    {
        try
        {
            return ((await store.ReadAsync(segment.LedgerId, cancellationToken))?.Value, null);
        }
        catch (DlException e) when (e.Code is StatusCode.MetadataException or StatusCode.UnsupportedMetadataVersion)
        {
            return (null, e.Message);
        }
    }
}
