using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Handles;

public sealed partial class LedgerHandle
{
    private readonly HashSet<string> _failedBookies = new(StringComparer.Ordinal);
    // Bookies that failed for this writer since its last acknowledged entry: never chosen as replacements, even as a
    // last resort, so two dead bookies cannot replace each other in turn while nothing is acknowledged.
    private readonly HashSet<string> _failedSinceProgress = new(StringComparer.Ordinal);
    private bool _changingEnsemble;

    /// <summary>How many ensemble changes this writer made.</summary>
    public int EnsembleChanges { get; private set; }

    private void OnBookieFailed(string bookieId)
    {
        _client.Quarantine.Add(bookieId);
        lock (_gate)
        {
            if (_error is not null || Array.IndexOf(_ensemble, bookieId) < 0)
            {
                return;
            }

            _failedBookies.Add(bookieId);
            _failedSinceProgress.Add(bookieId);
            if (_changingEnsemble)
            {
                return;
            }

            // Block completions until the new ensemble is in the metadata: an entry acknowledged with the help of a
            // replacement bookie must be findable by a recovering reader.
            _changingEnsemble = true;
        }

        _ = Task.Run(ChangeEnsembleAsync);
    }

    /// <summary>
    /// Replaces failed bookies: a new ensemble segment starting at LAC + 1 is written to the ledger metadata by
    /// compare-and-set, then every pending entry is re-sent to the replicas that changed (acks from replaced bookies no
    /// longer count). Repeats while more bookies fail meanwhile.
    /// </summary>
    private async Task ChangeEnsembleAsync()
    {
        while (true)
        {
            LedgerMetadata metadata;
            long version;
            long firstEntry;
            string[] ensemble;
            string[] failed;
            HashSet<string> excluded;
            lock (_gate)
            {
                if (_error is not null)
                {
                    _changingEnsemble = false;
                    return;
                }

                failed = [.. _failedBookies.Where(b => Array.IndexOf(_ensemble, b) >= 0)];
                if (failed.Length == 0)
                {
                    _changingEnsemble = false;
                    if (DrainLocked())
                    {
                        ThreadPool.UnsafeQueueUserWorkItem(static h => h.DeliverCompletions(), this, preferLocal: false);
                    }

                    return;
                }

                metadata = _metadata;
                version = _metadataVersion;
                firstEntry = _lastAddConfirmed + 1;
                ensemble = _ensemble;
                excluded = [.. _failedSinceProgress];
            }

            string[] replaced;
            Versioned<LedgerMetadata> written;
            try
            {
                replaced = [.. ensemble];
                foreach (string bookie in failed)
                {
                    int index = Array.IndexOf(replaced, bookie);
                    replaced[index] = ChooseReplacement(replaced, bookie, excluded);
                }

                var segments = metadata.Ensembles.ToList();
                var segment = new EnsembleSegment(firstEntry, replaced);
                if (segments[^1].FirstEntryId == firstEntry)
                {
                    segments[^1] = segment;
                }
                else
                {
                    segments.Add(segment);
                }

                written = await _client.MetadataStore.WriteAsync(metadata with { Ensembles = segments }, version, CancellationToken.None);
            }
            catch (DlException e) when (e.Code == StatusCode.MetadataVersionConflict)
            {
                var fresh = await ReadMetadataForChangeAsync();
                if (fresh is null)
                {
                    return;
                }

                lock (_gate)
                {
                    _metadata = fresh.Value;
                    _metadataVersion = fresh.Version;
                }

                continue;
            }
            catch (Exception e) when (e is DlException or IOException)
            {
                Fail(e is DlException { Code: StatusCode.NotEnoughBookies } dl
                    ? new DlException(StatusCode.NotEnoughBookies, $"Ledger {LedgerId}: cannot replace failed bookies [{string.Join(", ", failed)}]: {dl.Message}", dl)
                    : e);
                lock (_gate)
                {
                    _changingEnsemble = false;
                }

                return;
            }

            var resends = new List<AddTarget>();
            lock (_gate)
            {
                _metadata = written.Value;
                _metadataVersion = written.Version;
                _ensemble = replaced;
                EnsembleChanges++;
                foreach (string bookie in failed)
                {
                    _failedBookies.Remove(bookie);
                }

                int writeQuorum = _metadata.WriteQuorumSize;
                foreach (var add in _pending)
                {
                    for (int k = 0; k < writeQuorum; k++)
                    {
                        string bookie = replaced[DistributionSchedule.BookieIndex(add.EntryId, k, replaced.Length)];
                        if (add.Targets[k]!.BookieId == bookie)
                        {
                            continue;
                        }

                        uint bit = 1u << k;
                        if ((add.AckedMask & bit) != 0)
                        {
                            add.AckedMask &= ~bit;
                            add.AckCount--;
                            add.Quorum = add.AckCount >= _metadata.AckQuorumSize;
                        }

                        var target = add.TargetFor(k, bookie);
                        add.AddRef();
                        resends.Add(target);
                    }
                }
            }

            _logger.LogInformation("Ledger {Ledger}: ensemble changed from entry {Entry}: [{Old}] -> [{New}]; re-sending {Count} replicas",
                LedgerId, firstEntry, string.Join(", ", ensemble), string.Join(", ", replaced), resends.Count);
            foreach (var target in resends)
            {
                _client.Bookies.AddEntry(target.BookieId, MasterKey, target.Owner.Entry, recovery: false, this, target, target.Owner);
            }
        }
    }

    /// <summary>
    /// A replacement for <paramref name="failed"/>: a writable bookie outside the ensemble that has not failed for this
    /// writer since its last acknowledged entry, preferably not quarantined (BookKeeper's order: quarantined bookies
    /// only when nothing else is left).
    /// </summary>
    private string ChooseReplacement(string[] ensemble, string failed, HashSet<string> excluded)
    {
        try
        {
            return _client.ChooseReplacementBookie(ensemble, _metadata.WriteQuorumSize, failed, excluded);
        }
        catch (DlException e) when (e.Code == StatusCode.NotEnoughBookies && excluded.Count > 0)
        {
            throw new DlException(StatusCode.NotEnoughBookies,
                $"{e.Message} Not chosen again before this writer acknowledges another entry, because they failed for it since: [{string.Join(", ", excluded)}].", e);
        }
    }

    private async Task<Versioned<LedgerMetadata>?> ReadMetadataForChangeAsync()
    {
        try
        {
            var fresh = await _client.MetadataStore.ReadAsync(LedgerId, CancellationToken.None);
            if (fresh is null)
            {
                Fail(new DlException(StatusCode.NoSuchLedger, $"Ledger {LedgerId} was deleted while its writer changed the ensemble."));
            }
            else if (fresh.Value.State != LedgerState.Open)
            {
                Fail(new LedgerFencedException($"Ledger {LedgerId} is {fresh.Value.State}: another client recovered it, so this writer stops."));
                fresh = null;
            }

            if (fresh is null)
            {
                lock (_gate)
                {
                    _changingEnsemble = false;
                }
            }

            return fresh;
        }
        catch (Exception e) when (e is DlException or IOException)
        {
            Fail(e);
            lock (_gate)
            {
                _changingEnsemble = false;
            }

            return null;
        }
    }
}
