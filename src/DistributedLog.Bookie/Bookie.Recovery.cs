using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Wire;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie;

public sealed partial class Bookie
{
    /// <summary>Replays the journal after the last checkpoint into ledger storage, then checkpoints.</summary>
    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var mark = LastMarkFile.Read(_options.LedgerDirectory);
        var visitor = new ReplayVisitor(this);
        var result = _journal.Replay(mark, visitor);
        if (visitor.PendingFlush)
        {
            await _storage.FlushAsync(cancellationToken);
        }

        if (result.Records > 0 || result.End != mark)
        {
            await _storage.FlushAsync(cancellationToken);
            LastMarkFile.Write(_options.LedgerDirectory, result.End, _options.Faults);
            _journal.RemoveFilesBefore(result.End);
        }

        _logger.LogInformation(
            "Bookie {Bookie} recovered: {Records} journal records replayed ({Adds} entries, {Skipped} of deleted ledgers skipped, {Fences} fences), {Torn} torn tails cut",
            Id, result.Records, visitor.Adds, visitor.Skipped, visitor.Fences, result.TornTails);
    }

    /// <summary>Applies replayed journal records to ledger storage.</summary>
    private sealed class ReplayVisitor(Bookie bookie) : IJournalReplayVisitor
    {
        public long Adds { get; private set; }

        public long Skipped { get; private set; }

        public long Fences { get; private set; }

        public bool PendingFlush { get; private set; }

        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body)
        {
            var storage = bookie._storage;
            switch (type)
            {
                case JournalRecordType.AddEntry:
                    if (PackagedEntry.Validate(body) is string problem)
                    {
                        // The journal record passed its checksum, so this entry was never valid; adds are validated before journaling.
                        bookie._logger.LogWarning("Skipping an invalid entry in the journal: {Problem}", problem);
                        return;
                    }

                    long ledgerId = PackagedEntry.LedgerId(body);
                    if (storage.IsDeleted(ledgerId))
                    {
                        Skipped++;
                        return;
                    }

                    while (!storage.TryAddEntry(ledgerId, PackagedEntry.EntryId(body), body))
                    {
                        storage.FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
                    }

                    PendingFlush = true;
                    Adds++;
                    break;
                case JournalRecordType.MasterKey when JournalFormat.TryReadMasterKey(body, out long keyLedger, out var key):
                    if (!storage.IsDeleted(keyLedger))
                    {
                        storage.SetMasterKey(keyLedger, key);
                    }

                    break;
                case JournalRecordType.Fence when JournalFormat.TryReadFence(body, out long fenced):
                    if (!storage.IsDeleted(fenced))
                    {
                        storage.SetFenced(fenced);
                        Fences++;
                    }

                    break;
                default:
                    bookie._logger.LogWarning("Skipping a malformed {Type} journal record of {Length} bytes", type, body.Length);
                    break;
            }
        }
    }
}
