using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Wire;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers;

public sealed partial class LedgerClient
{
    /// <summary>
    /// Ledger recovery (BookKeeper's open with recovery): mark the metadata InRecovery, fence the last ensemble until
    /// quorum coverage, read forward from the highest LAC with fencing reads, re-replicate each entry found with
    /// recovery adds, and close the ledger at the last entry found (compare-and-set; a concurrent recovery that closed
    /// first wins and this one adopts its result).
    /// </summary>
    private async Task RecoverAsync(LedgerReader reader, CancellationToken cancellationToken)
    {
        // Bookies that just restarted (or whose connections just broke) answer "unavailable" for a moment: retry a few
        // times before giving up, as BookKeeper's recovery does.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await RecoverOnceAsync(reader, cancellationToken);
                return;
            }
            catch (DlException e) when (e.Code == StatusCode.BookieUnavailable && attempt < RecoveryAttempts)
            {
                _logger.LogInformation("Recovering ledger {Ledger} (attempt {Attempt}) failed: {Error}; retrying", reader.LedgerId, attempt, e.Message);
                await Task.Delay(RecoveryRetryDelay, cancellationToken);
            }
        }
    }

    private const int RecoveryAttempts = 20;

    private static readonly TimeSpan RecoveryRetryDelay = TimeSpan.FromMilliseconds(250);

    private async Task RecoverOnceAsync(LedgerReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = await ReadMetadataAsync(reader.LedgerId, cancellationToken);
            if (current.Value.IsClosed)
            {
                reader.SetMetadata(current);
                return;
            }

            if (current.Value.State == LedgerState.Open)
            {
                try
                {
                    current = await MetadataStore.WriteAsync(current.Value with { State = LedgerState.InRecovery }, current.Version, cancellationToken);
                }
                catch (DlException e) when (e.Code == StatusCode.MetadataVersionConflict)
                {
                    continue;
                }
            }

            reader.SetMetadata(current);
            var metadata = current.Value;
            long lac = await FenceAsync(metadata, cancellationToken);
            reader.RaiseLac(lac);
            long lastEntry = lac;
            long length = 0;
            if (lac >= 0)
            {
                length = PackagedEntry.LedgerLength((await reader.ReadEntryAsync(lac, cancellationToken)).Packaged.Span);
            }

            while (true)
            {
                var found = await RecoveryReadAsync(metadata, lastEntry + 1, cancellationToken);
                if (found is null)
                {
                    break;
                }

                await RecoveryAddAsync(metadata, found.Value, cancellationToken);
                lastEntry++;
                length = PackagedEntry.LedgerLength(found.Value.Span);
            }

            var closed = metadata with { State = LedgerState.Closed, LastEntryId = lastEntry, Length = length };
            try
            {
                var written = await MetadataStore.WriteAsync(closed, current.Version, cancellationToken);
                reader.SetMetadata(written);
                _logger.LogInformation("Recovered ledger {Ledger}: LAC was {Lac}, closed at entry {Last}", reader.LedgerId, lac, lastEntry);
                return;
            }
            catch (DlException e) when (e.Code == StatusCode.MetadataVersionConflict)
            {
                // Someone else changed it (another recovery closed it, or the writer's ensemble change raced): look again.
            }
        }
    }

    /// <summary>Fences the ledger on its last ensemble until quorum coverage and returns the highest LAC seen.</summary>
    private async Task<long> FenceAsync(LedgerMetadata metadata, CancellationToken cancellationToken)
    {
        var ensemble = metadata.CurrentEnsemble;
        var known = new bool[ensemble.Count];
        long lac = -1;
        var pending = ensemble.Select((bookie, index) => (Index: index, Task: Bookies.ReadEntryAsync(bookie, metadata.LedgerId, -1, fence: true,
            masterKey: metadata.MasterKey, cancellationToken: cancellationToken).AsTask())).ToList();
        var errors = new List<string>();
        while (pending.Count > 0)
        {
            var finished = await Task.WhenAny(pending.Select(p => p.Task));
            var item = pending.First(p => p.Task == finished);
            pending.Remove(item);
            var result = await finished;
            switch (result.Status)
            {
                case StatusCode.Success:
                    known[item.Index] = true;
                    lac = Math.Max(lac, PackagedEntry.LastAddConfirmed(result.Entry.Span));
                    break;
                case StatusCode.NoSuchEntry or StatusCode.NoSuchLedger:
                    known[item.Index] = true;
                    break;
                default:
                    errors.Add($"{ensemble[item.Index]}: {result.Status}");
                    break;
            }

            if (DistributionSchedule.IsCovered(known, metadata.WriteQuorumSize, metadata.AckQuorumSize))
            {
                return lac;
            }
        }

        throw new DlException(StatusCode.BookieUnavailable,
            $"Cannot recover ledger {metadata.LedgerId}: too few bookies of [{string.Join(", ", ensemble)}] answered the fence ({string.Join("; ", errors)}).");
    }

    /// <summary>
    /// Reads <paramref name="entryId"/> from its write set with fencing reads: the packaged entry if a replica has it, null if
    /// enough replicas (Qw − Qa + 1) say it does not exist that it cannot have been acknowledged.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>?> RecoveryReadAsync(LedgerMetadata metadata, long entryId, CancellationToken cancellationToken)
    {
        var ensemble = metadata.EnsembleAt(entryId);
        int writeQuorum = metadata.WriteQuorumSize;
        var reads = Enumerable.Range(0, writeQuorum)
            .Select(k => Bookies.ReadEntryAsync(ensemble[DistributionSchedule.BookieIndex(entryId, k, ensemble.Count)], metadata.LedgerId, entryId,
                fence: true, masterKey: metadata.MasterKey, cancellationToken: cancellationToken).AsTask())
            .ToList();
        int absent = 0;
        var errors = new List<string>();
        while (reads.Count > 0)
        {
            var finished = await Task.WhenAny(reads);
            reads.Remove(finished);
            var result = await finished;
            if (result.Status == StatusCode.Success)
            {
                return result.Entry;
            }

            if (result.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger)
            {
                if (++absent >= writeQuorum - metadata.AckQuorumSize + 1)
                {
                    return null;
                }
            }
            else
            {
                errors.Add(result.Status.ToString());
            }
        }

        throw new DlException(StatusCode.BookieUnavailable,
            $"Cannot tell whether entry {entryId} of ledger {metadata.LedgerId} exists: {absent} replicas lack it, the others failed ({string.Join(", ", errors)}).");
    }

    /// <summary>Writes a found entry to its whole write set with recovery adds (allowed on fenced ledgers) and waits for Qa.</summary>
    private async Task RecoveryAddAsync(LedgerMetadata metadata, ReadOnlyMemory<byte> entry, CancellationToken cancellationToken)
    {
        long entryId = PackagedEntry.EntryId(entry.Span);
        var ensemble = metadata.EnsembleAt(entryId);
        var adds = Enumerable.Range(0, metadata.WriteQuorumSize)
            .Select(k => Bookies.AddEntryAsync(ensemble[DistributionSchedule.BookieIndex(entryId, k, ensemble.Count)], metadata.MasterKey, entry,
                recovery: true, cancellationToken).AsTask())
            .ToList();
        int acks = 0;
        var errors = new List<string>();
        while (adds.Count > 0)
        {
            var finished = await Task.WhenAny(adds);
            adds.Remove(finished);
            var result = await finished;
            if (result.Status == StatusCode.Success && ++acks >= metadata.AckQuorumSize)
            {
                return;
            }

            if (result.Status != StatusCode.Success)
            {
                errors.Add(result.Status.ToString());
            }
        }

        throw new DlException(StatusCode.BookieUnavailable,
            $"Recovery could not re-replicate entry {entryId} of ledger {metadata.LedgerId} to an ack quorum ({string.Join(", ", errors)}).");
    }
}
