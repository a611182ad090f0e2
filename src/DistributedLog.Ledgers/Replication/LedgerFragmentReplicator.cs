using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Replication;

/// <summary>What one replication of a ledger did.</summary>
/// <param name="Fragments">Fragments (one bookie's share of one ensemble segment) copied to a new bookie.</param>
/// <param name="Entries">Entries copied.</param>
/// <param name="Bytes">Bytes copied (packaged entries).</param>
/// <param name="OpenFragments">Shares of the ledger's last, still open ensemble that were left alone (the ledger is open:
/// its writer may still add entries there; fence it first).</param>
public sealed record ReplicationResult(int Fragments, long Entries, long Bytes, int OpenFragments)
{
    /// <summary>Nothing done.</summary>
    public static ReplicationResult None { get; } = new(0, 0, 0, 0);

    /// <summary>Whether every share of the replaced bookies moved (none left in an open ensemble).</summary>
    public bool Complete => OpenFragments == 0;
}

/// <summary>
/// Copies a ledger's fragments away from bookies that lost (or must give up) their copies, as BookKeeper's
/// <c>LedgerFragmentReplicator</c>: for each ensemble segment holding such a bookie, a replacement is chosen by the
/// placement policy among writable bookies (never a draining one, never one of the segment), every entry of the lost
/// bookie's share is read from a surviving replica (checksums verified) and written to the replacement with recovery
/// adds, and only then is the bookie replaced in the ledger's metadata, by compare-and-set. A conflict (the writer
/// changed its ensemble, another worker finished first) re-reads the metadata and goes on; copies already made are
/// reused. Only complete fragments move: the last ensemble of an open ledger is left to its writer.
/// </summary>
public sealed partial class LedgerFragmentReplicator(LedgerClient client, UnderReplicationStore state, ILogger logger, ReplicationMetrics? metrics = null)
{
    /// <summary>Entries copied at once per ledger.</summary>
    public int Parallelism { get; init; } = 16;

    /// <summary>
    /// Replaces every bookie of <paramref name="replace"/> in the complete fragments of ledger <paramref name="ledgerId"/>.
    /// </summary>
    /// <param name="ledgerId">The ledger.</param>
    /// <param name="replace">The bookies whose copies move, with why (a <see cref="ReplicaLoss.Lost"/> bookie is never read from).</param>
    /// <param name="cancellationToken">Cancels the copy (the metadata then still names the old bookies).</param>
    /// <exception cref="DlException">
    /// <c>NoSuchEntry</c> when an entry is on no surviving replica, <c>BookieUnavailable</c> when its replicas do not answer,
    /// <c>NotEnoughBookies</c> when no bookie can take the copy.
    /// </exception>
    public async Task<ReplicationResult> ReplicateAsync(long ledgerId, IReadOnlyDictionary<string, ReplicaLoss> replace, CancellationToken cancellationToken)
    {
        var copied = new Dictionary<(long First, long Last, int Position), string>();
        int fragments = 0;
        long entries = 0, bytes = 0;
        while (true)
        {
            var versioned = await client.MetadataStore.ReadAsync(ledgerId, cancellationToken);
            if (versioned is null)
            {
                return new ReplicationResult(fragments, entries, bytes, 0); // deleted meanwhile: nothing left to protect
            }

            var metadata = versioned.Value;
            var draining = await state.DrainingBookiesAsync(cancellationToken);
            var ensembles = metadata.Ensembles.Select(s => s.Bookies.ToArray()).ToArray();
            int open = 0;
            bool changed = false;
            for (int i = 0; i < ensembles.Length; i++)
            {
                long first = metadata.Ensembles[i].FirstEntryId;
                long? last = i + 1 < ensembles.Length ? metadata.Ensembles[i + 1].FirstEntryId - 1 : metadata.IsClosed ? metadata.LastEntryId : null;
                for (int k = 0; k < ensembles[i].Length; k++)
                {
                    string bookie = ensembles[i][k];
                    if (!replace.TryGetValue(bookie, out var loss))
                    {
                        continue;
                    }

                    if (last is not { } lastEntry)
                    {
                        open++;
                        continue;
                    }

                    if (!copied.TryGetValue((first, lastEntry, k), out string? target) || ensembles[i].Contains(target, StringComparer.Ordinal))
                    {
                        target = ChooseTarget(ensembles[i], metadata.WriteQuorumSize, bookie, replace, draining);
                        var (count, size) = await CopyShareAsync(metadata, first, lastEntry, k, target, readFromReplaced: loss != ReplicaLoss.Lost, cancellationToken);
                        copied[(first, lastEntry, k)] = target;
                        fragments++;
                        entries += count;
                        bytes += size;
                        metrics?.FragmentCopied(count, size);
                        LogFragmentCopied(ledgerId, first, lastEntry, bookie, target, count);
                    }

                    ensembles[i][k] = target;
                    changed = true;
                }
            }

            if (!changed)
            {
                return new ReplicationResult(fragments, entries, bytes, open);
            }

            var updated = metadata with
            {
                Ensembles = metadata.Ensembles.Select((s, i) => new EnsembleSegment(s.FirstEntryId, ensembles[i])).ToArray(),
            };
            try
            {
                await client.MetadataStore.WriteAsync(updated, versioned.Version, cancellationToken);
                return new ReplicationResult(fragments, entries, bytes, open);
            }
            catch (DlException e) when (e.Code == StatusCode.MetadataVersionConflict)
            {
                // The writer changed its ensemble or closed the ledger, or recovery ran: look again (copies made stay usable).
                LogMetadataConflict(ledgerId);
            }
        }
    }

    private string ChooseTarget(string[] ensemble, int writeQuorumSize, string replaced, IReadOnlyDictionary<string, ReplicaLoss> replace, IReadOnlySet<string> draining)
    {
        var excluded = new HashSet<string>(replace.Keys, StringComparer.Ordinal);
        excluded.UnionWith(draining);
        return client.ChooseReplacementBookie(ensemble, writeQuorumSize, replaced, excluded);
    }

    /// <summary>Copies the entries of <c>[first, last]</c> that ensemble position <paramref name="position"/> stores to <paramref name="target"/>.</summary>
    private async Task<(long Entries, long Bytes)> CopyShareAsync(LedgerMetadata metadata, long first, long last, int position, string target,
        bool readFromReplaced, CancellationToken cancellationToken)
    {
        var ensemble = metadata.EnsembleAt(first);
        int e = metadata.EnsembleSize, qw = metadata.WriteQuorumSize;
        long count = 0, bytes = 0;
        var share = ClusterAudit.Share(first, last, position, e, qw);
        await Parallel.ForEachAsync(share, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (entryId, ct) =>
        {
            var sources = Enumerable.Range(0, qw).Select(j => DistributionSchedule.BookieIndex(entryId, j, e)).Where(index => index != position)
                .Select(index => ensemble[index]).ToList();
            if (readFromReplaced)
            {
                sources.Add(ensemble[position]);
            }

            var statuses = new List<string>();
            foreach (string source in sources)
            {
                var read = await client.Bookies.ReadEntryAsync(source, metadata.LedgerId, entryId, cancellationToken: ct);
                if (read.Status != StatusCode.Success)
                {
                    statuses.Add($"{source}: {read.Status}");
                    continue;
                }

                var added = await client.Bookies.AddEntryAsync(target, metadata.MasterKey, read.Entry, recovery: true, ct);
                if (added.Status != StatusCode.Success)
                {
                    throw new DlException(added.Status == StatusCode.BookieReadOnly ? StatusCode.NotEnoughBookies : StatusCode.BookieUnavailable,
                        $"Copying entry {entryId} of ledger {metadata.LedgerId} to bookie {target} failed: {added.Status}.");
                }

                Interlocked.Increment(ref count);
                Interlocked.Add(ref bytes, read.Entry.Length);
                return;
            }

            bool gone = statuses.Count > 0 && statuses.All(s => s.EndsWith(nameof(StatusCode.NoSuchEntry), StringComparison.Ordinal)
                || s.EndsWith(nameof(StatusCode.NoSuchLedger), StringComparison.Ordinal) || s.EndsWith(nameof(StatusCode.ChecksumFailed), StringComparison.Ordinal));
            throw new DlException(gone ? StatusCode.NoSuchEntry : StatusCode.BookieUnavailable,
                $"Entry {entryId} of ledger {metadata.LedgerId} could not be read from any surviving replica ({string.Join(", ", statuses)}).");
        });
        return (count, bytes);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ledger {Ledger}: entries {First}..{Last} of bookie {Bookie} copied to {Target} ({Count} entries)")]
    private partial void LogFragmentCopied(long ledger, long first, long last, string bookie, string target, long count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ledger {Ledger}: its metadata changed while fragments were copied; looking again")]
    private partial void LogMetadataConflict(long ledger);
}
