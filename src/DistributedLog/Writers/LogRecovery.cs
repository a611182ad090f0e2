using System.Text.Json;
using DistributedLog.Ledgers;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Writers;

/// <summary>
/// Completing segments: after a writer ended (closed, crashed, or was taken over), each in-progress segment is recovered —
/// its ledger opened with recovery (fenced, so the old writer's adds fail; its last entry found and closed), its last
/// entry read for the last txid, slot and position — and recorded as completed by compare-and-set. An in-progress
/// segment whose ledger is empty is removed.
/// </summary>
internal static class LogRecovery
{
    public static async Task RecoverAsync(NamespaceMetadata ns, IMetadataStore store, LedgerClient ledgers, string logName, ILogger logger,
        CancellationToken cancellationToken)
    {
        foreach (var (segment, version) in await ns.GetSegmentsAsync(logName, cancellationToken))
        {
            if (!segment.IsInProgress)
            {
                continue;
            }

            var reader = await ledgers.OpenLedgerAsync(segment.LedgerId, cancellationToken);
            long lastEntry = reader.Metadata.LastEntryId;
            string key = ns.Layout.Segment(logName, segment.Lssn);
            if (lastEntry < 0)
            {
                // Nothing was ever acknowledged in it: drop the segment and its ledger.
                await store.CommitAsync(new MetadataTransaction().IfVersion(key, version).Delete(key), cancellationToken);
                await ledgers.DeleteLedgerAsync(segment.LedgerId, cancellationToken);
                logger.LogInformation("Log {Log}: removed empty in-progress segment {Lssn}", logName, segment.Lssn);
                continue;
            }

            var entry = await reader.ReadEntryAsync(lastEntry, cancellationToken);
            long lastTxId = -1, lastSlot = -1, position = 0;
            bool endOfStream = false;
            foreach (var record in EntryReader.ReadAll(entry.Payload.Span, segment.Lssn, lastEntry, segment.StartSequenceId))
            {
                lastSlot = record.Dlsn.SlotId;
                position = Math.Max(position, record.PositionWithinSegment);
                endOfStream |= record.IsEndOfStream;
                if (!record.IsEndOfStream)
                {
                    lastTxId = record.TxId;
                }
            }
            await CompleteSegmentRecordAsync(ns, store, logName, segment.Lssn, new SegmentEnd(lastEntry, lastSlot, lastTxId, position),
                TimeProvider.System, cancellationToken, endOfStream);
            logger.LogInformation("Log {Log}: recovered in-progress segment {Lssn}: last entry {Entry}, last txid {TxId}", logName, segment.Lssn, lastEntry, lastTxId);
        }
    }

    /// <summary>Marks the segment completed and raises the log's max txid, in one compare-and-set transaction (retried on conflicts).</summary>
    public static async Task CompleteSegmentRecordAsync(NamespaceMetadata ns, IMetadataStore store, string logName, long lssn, SegmentEnd end,
        TimeProvider time, CancellationToken cancellationToken, bool endOfStream = false)
    {
        string logKey = ns.Layout.Log(logName);
        string segmentKey = ns.Layout.Segment(logName, lssn);
        while (true)
        {
            var (log, logVersion) = await ns.GetLogAsync(logName, cancellationToken);
            var current = await store.GetAsync(segmentKey, cancellationToken)
                ?? throw new DlException(StatusCode.LogSegmentNotFound, $"Segment {lssn} of log '{logName}' disappeared while being completed.");
            var segment = LogSegmentMetadata.FromJson(segmentKey, current.Value.Span);
            if (!segment.IsInProgress)
            {
                return;
            }

            long lastTxId = end.RecordCount == 0 ? segment.FirstTxId : end.LastTxId;
            var completed = segment with
            {
                State = LogSegmentState.Completed,
                LastEntryId = end.LastEntryId,
                LastSlotId = end.LastSlotId,
                LastTxId = lastTxId,
                RecordCount = end.RecordCount,
                CompletionTime = time.GetUtcNow(),
            };
            long maxTxId = endOfStream ? LogRecord.EndOfStreamTxId : Math.Max(log.MaxTxId, lastTxId);
            var transaction = new MetadataTransaction()
                .IfVersion(segmentKey, current.Version)
                .IfVersion(logKey, logVersion)
                .Put(segmentKey, JsonSerializer.SerializeToUtf8Bytes(completed, LogMetadataJson.Default.LogSegmentMetadata))
                .Put(logKey, JsonSerializer.SerializeToUtf8Bytes(log with { MaxTxId = maxTxId }, LogMetadataJson.Default.LogMetadata));
            if ((await store.CommitAsync(transaction, cancellationToken)).Succeeded)
            {
                return;
            }
        }
    }
}
