using System.Globalization;
using DistributedLog.Bookie.Registration;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Replication;

/// <summary>What an audit found.</summary>
public sealed record AuditReport
{
    /// <summary>Ledgers looked at.</summary>
    public required long Ledgers { get; init; }

    /// <summary>Ledgers marked under-replicated after the audit (marked before and not yet repaired, or marked now).</summary>
    public required long UnderReplicated { get; init; }

    /// <summary>Bookies counted as lost: they have a cookie (they belonged to the cluster) but no registration.</summary>
    public required IReadOnlyList<string> LostBookies { get; init; }

    /// <summary>Ledgers this audit marked.</summary>
    public required long MarkedNow { get; init; }

    /// <summary>Fragments whose checked entries were missing or corrupt on a live bookie.</summary>
    public required long BadFragments { get; init; }

    /// <summary>The under-replicated ledgers (at most the first 1000).</summary>
    public required IReadOnlyList<long> UnderReplicatedLedgers { get; init; }
}

/// <summary>
/// The auditor's checks, also run on demand by <c>dlog admin audit</c>: which bookies are lost, which ledgers have a
/// fragment on one of them, and (the periodic check) which fragments on live bookies miss entries or hold corrupt ones —
/// each such ledger is marked under-replicated for the replication workers.
/// </summary>
public sealed partial class ClusterAudit(LedgerClient client, UnderReplicationStore state, ILogger logger)
{
    private const int ScanPage = 500;

    /// <summary>The bookies registered now (writable or read-only).</summary>
    public Task<IReadOnlySet<string>> RegisteredBookiesAsync(CancellationToken cancellationToken) =>
        BookieIdsAsync(state.Store, BookieKeys.AvailablePrefix, cancellationToken);

    /// <summary>The bookies that belong to the cluster (they have a cookie).</summary>
    public Task<IReadOnlySet<string>> KnownBookiesAsync(CancellationToken cancellationToken) =>
        BookieIdsAsync(state.Store, BookieKeys.CookiesPrefix, cancellationToken);

    /// <summary>The bookie ids under one of the <c>bookies/…/</c> prefixes.</summary>
    internal static async Task<IReadOnlySet<string>> BookieIdsAsync(IMetadataStore store, string prefix, CancellationToken cancellationToken) =>
        (await store.ListAsync(prefix, cancellationToken)).Select(i => i.Key[prefix.Length..]).ToHashSet(StringComparer.Ordinal);

    /// <summary>Every ledger's metadata, page by page (unreadable records are logged and skipped).</summary>
    public async IAsyncEnumerable<LedgerMetadata> ScanLedgersAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string from = MetadataLedgerStore.LedgersPrefix;
        string end = MetadataLedgerStore.LedgersPrefix[..^1] + "0"; // '0' sorts right after '/'
        while (true)
        {
            var page = await state.Store.ListRangeAsync(from, end, ScanPage, cancellationToken);
            foreach (var item in page)
            {
                if (!long.TryParse(item.Key.AsSpan(MetadataLedgerStore.LedgersPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                {
                    continue;
                }

                LedgerMetadata metadata;
                try
                {
                    metadata = LedgerMetadata.FromJson(id, item.Value.Span);
                }
                catch (DlException e)
                {
                    LogUnreadableLedger(id, e.Message);
                    continue;
                }

                yield return metadata;
            }

            if (page.Count < ScanPage)
            {
                yield break;
            }

            from = page[^1].Key + "\0";
        }
    }

    /// <summary>Marks every ledger with a fragment on one of <paramref name="lost"/>; returns how many ledgers it marked.</summary>
    public async Task<long> MarkLedgersOfAsync(IReadOnlySet<string> lost, ReplicaLoss loss, CancellationToken cancellationToken)
    {
        long marked = 0;
        if (lost.Count == 0)
        {
            return 0;
        }

        await foreach (var ledger in ScanLedgersAsync(cancellationToken))
        {
            var on = ledger.Ensembles.SelectMany(s => s.Bookies).Where(lost.Contains).Distinct(StringComparer.Ordinal).ToDictionary(b => b, _ => loss, StringComparer.Ordinal);
            if (on.Count > 0 && await state.MarkAsync(ledger.LedgerId, on, cancellationToken))
            {
                marked++;
            }
        }

        return marked;
    }

    /// <summary>
    /// Runs the whole check now: counts as lost every bookie with a cookie and no registration (no delay: whoever runs
    /// this asked for it, or the auditor passes the bookies it already counts lost), marks the ledgers with fragments on
    /// them, and — with <paramref name="checkFragments"/> — reads, for every closed ledger, the first and last entry of each
    /// live bookie's share (every entry with <paramref name="verifyEntries"/>) and marks the fragments that miss one.
    /// </summary>
    public async Task<AuditReport> RunAsync(IReadOnlySet<string>? lost, bool checkFragments, bool verifyEntries, CancellationToken cancellationToken)
    {
        var registered = await RegisteredBookiesAsync(cancellationToken);
        if (lost is null)
        {
            var known = await KnownBookiesAsync(cancellationToken);
            lost = known.Where(b => !registered.Contains(b)).ToHashSet(StringComparer.Ordinal);
        }

        long ledgers = 0, marked = 0, badFragments = 0;
        await foreach (var ledger in ScanLedgersAsync(cancellationToken))
        {
            ledgers++;
            var bookies = new Dictionary<string, ReplicaLoss>(StringComparer.Ordinal);
            foreach (string bookie in ledger.Ensembles.SelectMany(s => s.Bookies))
            {
                if (lost.Contains(bookie))
                {
                    bookies[bookie] = ReplicaLoss.Lost;
                }
            }

            if (checkFragments && ledger.IsClosed)
            {
                foreach (string bad in await FindBadSharesAsync(ledger, registered, verifyEntries, cancellationToken))
                {
                    badFragments++;
                    bookies.TryAdd(bad, ReplicaLoss.MissingEntries);
                }
            }

            if (bookies.Count > 0 && await state.MarkAsync(ledger.LedgerId, bookies, cancellationToken))
            {
                marked++;
            }
        }

        var marks = await state.ListAsync(cancellationToken);
        return new AuditReport
        {
            Ledgers = ledgers,
            UnderReplicated = marks.Count,
            LostBookies = lost.Order(StringComparer.Ordinal).ToArray(),
            MarkedNow = marked,
            BadFragments = badFragments,
            UnderReplicatedLedgers = marks.Select(m => m.Ledger.LedgerId).Take(1000).ToArray(),
        };
    }

    /// <summary>The live bookies of a closed ledger whose share misses (or holds corrupt) checked entries.</summary>
    private async Task<IReadOnlyList<string>> FindBadSharesAsync(LedgerMetadata ledger, IReadOnlySet<string> registered, bool verifyEntries,
        CancellationToken cancellationToken)
    {
        var bad = new List<string>();
        if (ledger.LastEntryId < 0)
        {
            return bad;
        }

        for (int i = 0; i < ledger.Ensembles.Count; i++)
        {
            long first = ledger.Ensembles[i].FirstEntryId;
            long last = i + 1 < ledger.Ensembles.Count ? ledger.Ensembles[i + 1].FirstEntryId - 1 : ledger.LastEntryId;
            if (last < first)
            {
                continue;
            }

            for (int k = 0; k < ledger.EnsembleSize; k++)
            {
                string bookie = ledger.Ensembles[i].Bookies[k];
                if (!registered.Contains(bookie) || bad.Contains(bookie))
                {
                    continue;
                }

                var share = Share(first, last, k, ledger.EnsembleSize, ledger.WriteQuorumSize);
                var toCheck = verifyEntries ? share : share.Take(1).Concat(share.TakeLast(1)).Distinct();
                foreach (long entryId in toCheck)
                {
                    var read = await client.Bookies.ReadEntryAsync(bookie, ledger.LedgerId, entryId, cancellationToken: cancellationToken);
                    if (read.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger or StatusCode.ChecksumFailed)
                    {
                        LogBadShare(ledger.LedgerId, bookie, entryId, read.Status);
                        bad.Add(bookie);
                        break;
                    }
                }
            }
        }

        return bad;
    }

    /// <summary>The entries of <c>[first, last]</c> that ensemble position <paramref name="position"/> stores.</summary>
    internal static IReadOnlyList<long> Share(long first, long last, int position, int ensembleSize, int writeQuorum)
    {
        var share = new List<long>();
        for (long entry = first; entry <= last; entry++)
        {
            if (DistributionSchedule.InWriteSet(entry, position, ensembleSize, writeQuorum))
            {
                share.Add(entry);
            }
        }

        return share;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ledger {Ledger}: its metadata is unreadable ({Error}); the audit skips it")]
    private partial void LogUnreadableLedger(long ledger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ledger {Ledger}: bookie {Bookie} answered {Status} for entry {Entry} of its share; marking the ledger under-replicated")]
    private partial void LogBadShare(long ledger, string bookie, long entry, StatusCode status);
}
