using System.Text.Json;
using DistributedLog.Ledgers;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Segments;

/// <summary>
/// Truncation and retention (DistributedLog's <c>truncate</c> and <c>purgeLogsOlderThan</c>). Truncating to a DLSN marks
/// every completed segment that ends before it <see cref="TruncationStatus.Truncated"/> and the completed segment holding
/// it <see cref="TruncationStatus.PartiallyTruncated"/> (first active DLSN recorded); the in-progress segment and
/// everything after it are never truncated. Truncated segments' ledgers are then deleted; their records stay, so readers
/// positioned inside a truncated range get a truncated-position error and sequence ids stay exact.
/// </summary>
public static class LogTruncation
{
    /// <summary>
    /// Truncates the log before <paramref name="dlsn"/>. Returns whether any segment was newly marked (truncated or
    /// partially truncated): false when nothing before <paramref name="dlsn"/> was left, and for <see cref="Dlsn.Invalid"/>.
    /// </summary>
    /// <exception cref="LogNotFoundException">The log does not exist.</exception>
    /// <exception cref="DlException">BAD_REQUEST (707): <paramref name="dlsn"/> is beyond the log's last record (nothing is truncated).</exception>
    public static async Task<bool> TruncateAsync(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, string log, Dlsn dlsn,
        CancellationToken cancellationToken = default)
    {
        await ns.GetLogAsync(log, cancellationToken);
        if (dlsn == Dlsn.Invalid)
        {
            return false;
        }

        await EnsureWithinLogAsync(ns, ledgers, log, dlsn, cancellationToken);

        bool changed = false;
        foreach (var (segment, version) in await ns.GetSegmentsAsync(log, cancellationToken))
        {
            if (segment.IsInProgress || segment.Lssn > dlsn.LogSegmentSequenceNo)
            {
                break;
            }

            var last = new Dlsn(segment.Lssn, segment.LastEntryId, segment.LastSlotId);
            LogSegmentMetadata? updated = null;
            if (last < dlsn)
            {
                updated = segment.Truncation == TruncationStatus.Truncated ? null : segment with { Truncation = TruncationStatus.Truncated, MinActiveDlsn = null };
            }
            else if (segment.Lssn == dlsn.LogSegmentSequenceNo && dlsn > new Dlsn(segment.Lssn, 0, 0) && segment.Truncation == TruncationStatus.Active
                || segment.Truncation == TruncationStatus.PartiallyTruncated && Dlsn.TryParse(segment.MinActiveDlsn, out var current) && current < dlsn)
            {
                updated = segment with { Truncation = TruncationStatus.PartiallyTruncated, MinActiveDlsn = dlsn.ToString() };
            }

            if (updated is not null)
            {
                await UpdateAsync(ns, store, log, updated, version, cancellationToken);
                changed = true;
            }
        }

        await DeleteTruncatedLedgersAsync(ns, ledgers, log, cancellationToken);
        return changed;
    }

    /// <summary>
    /// Refuses a truncation point beyond the last record readers can see (DistributedLog refuses to truncate past the
    /// log's end): "truncate before 999:0:0" would otherwise delete every completed segment without a word. Truncating
    /// before the last record itself is allowed (it keeps that record).
    /// </summary>
    private static async Task EnsureWithinLogAsync(NamespaceMetadata ns, LedgerClient ledgers, string log, Dlsn dlsn, CancellationToken cancellationToken)
    {
        Dlsn last;
        try
        {
            last = await new Readers.LogQueries(ns, ledgers).GetLastDlsnAsync(log, cancellationToken);
        }
        catch (LogEmptyException)
        {
            throw new DlException(StatusCode.BadRequest, $"Cannot truncate log '{log}' before {dlsn}: the log has no records; nothing was truncated.");
        }

        if (dlsn > last)
        {
            throw new DlException(StatusCode.BadRequest,
                $"Cannot truncate log '{log}' before {dlsn}: that is beyond its last record ({last}); nothing was truncated. Truncate before a DLSN up to {last}.");
        }
    }

    /// <summary>Time-based retention: truncates (and deletes the ledgers of) completed segments completed before <paramref name="cutoff"/>, oldest first.</summary>
    /// <returns>How many segments were truncated.</returns>
    public static async Task<int> PurgeCompletedBeforeAsync(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, string log,
        DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        int purged = 0;
        foreach (var (segment, version) in await ns.GetSegmentsAsync(log, cancellationToken))
        {
            if (segment.IsInProgress || segment.CompletionTime is not DateTimeOffset completed || completed >= cutoff)
            {
                break;
            }

            if (segment.Truncation != TruncationStatus.Truncated)
            {
                await UpdateAsync(ns, store, log, segment with { Truncation = TruncationStatus.Truncated, MinActiveDlsn = null }, version, cancellationToken);
                purged++;
            }
        }

        await DeleteTruncatedLedgersAsync(ns, ledgers, log, cancellationToken);
        return purged;
    }

    /// <summary>
    /// Applies a retention policy to one log: the longest run of oldest completed segments that are past the policy
    /// (completed before <paramref name="now"/> − <see cref="RetentionPolicy.MaxAge"/>, or needed to bring the completed
    /// segments' bytes under <see cref="RetentionPolicy.MaxBytesPerLog"/>) is marked truncated and their ledgers are
    /// deleted. Stops at the first in-progress segment; keeps the last completed segment when the policy says so.
    /// </summary>
    /// <returns>How many segments were newly truncated.</returns>
    /// <exception cref="LogNotFoundException">The log does not exist.</exception>
    /// <exception cref="DlException">METADATA_VERSION_CONFLICT when a segment changed meanwhile (the next round tries again).</exception>
    public static async Task<int> ApplyRetentionAsync(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, string log,
        RetentionPolicy policy, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!policy.IsEnabled)
        {
            return 0;
        }

        var completed = (await ns.GetSegmentsAsync(log, cancellationToken)).TakeWhile(s => !s.Segment.IsInProgress).ToList();
        int removable = policy.KeepLastCompletedSegment ? completed.Count - 1 : completed.Count;
        int cut = 0; // segments [0, cut) go
        if (policy.MaxAge is { } maxAge)
        {
            DateTimeOffset cutoff = now - maxAge;
            while (cut < removable && completed[cut].Segment.CompletionTime is DateTimeOffset done && done < cutoff)
            {
                cut++;
            }
        }

        if (policy.MaxBytesPerLog is { } maxBytes && removable > 0)
        {
            var sizes = new long[completed.Count];
            long kept = 0;
            for (int i = 0; i < completed.Count; i++)
            {
                if (completed[i].Segment.Truncation != TruncationStatus.Truncated)
                {
                    sizes[i] = (await ledgers.MetadataStore.ReadAsync(completed[i].Segment.LedgerId, cancellationToken))?.Value.Length ?? 0;
                    kept += i >= cut ? sizes[i] : 0;
                }
            }

            int bySize = cut;
            while (bySize < removable && kept > maxBytes)
            {
                kept -= sizes[bySize];
                bySize++;
            }

            cut = Math.Max(cut, bySize);
        }

        int purged = 0;
        for (int i = 0; i < cut; i++)
        {
            var (segment, version) = completed[i];
            if (segment.Truncation != TruncationStatus.Truncated)
            {
                await UpdateAsync(ns, store, log, segment with { Truncation = TruncationStatus.Truncated, MinActiveDlsn = null }, version, cancellationToken);
                purged++;
            }
        }

        if (purged > 0)
        {
            await DeleteTruncatedLedgersAsync(ns, ledgers, log, cancellationToken);
        }

        return purged;
    }

    private static async Task UpdateAsync(NamespaceMetadata ns, IMetadataStore store, string log, LogSegmentMetadata updated, long version,
        CancellationToken cancellationToken)
    {
        string key = ns.Layout.Segment(log, updated.Lssn);
        var result = await store.CommitAsync(new MetadataTransaction().IfVersion(key, version)
            .Put(key, JsonSerializer.SerializeToUtf8Bytes(updated, LogMetadataJson.Default.LogSegmentMetadata)), cancellationToken);
        if (!result.Succeeded)
        {
            throw new DlException(StatusCode.MetadataVersionConflict, $"Segment {updated.Lssn} of log '{log}' changed during truncation; try again.");
        }
    }

    private static async Task DeleteTruncatedLedgersAsync(NamespaceMetadata ns, LedgerClient ledgers, string log, CancellationToken cancellationToken)
    {
        foreach (var (segment, _) in await ns.GetSegmentsAsync(log, cancellationToken))
        {
            if (segment.Truncation != TruncationStatus.Truncated)
            {
                continue;
            }

            try
            {
                await ledgers.DeleteLedgerAsync(segment.LedgerId, cancellationToken);
            }
            catch (DlException e) when (e.Code == StatusCode.NoSuchLedger)
            {
                // Already deleted by an earlier truncation.
            }
        }
    }
}
