using DistributedLog.Bookie.Registration;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Replication;

/// <summary>What moving every copy off one bookie did.</summary>
/// <param name="Bookie">The bookie.</param>
/// <param name="Ledgers">Ledgers that had a copy on it.</param>
/// <param name="Fragments">Fragments copied.</param>
/// <param name="Entries">Entries copied.</param>
/// <param name="Bytes">Bytes copied.</param>
/// <param name="Seconds">How long it took.</param>
public sealed record BookieRecoveryResult(string Bookie, long Ledgers, long Fragments, long Entries, long Bytes, double Seconds);

/// <summary>
/// Moves every copy a bookie holds to other bookies at once, without waiting for the auditor (BookKeeper's
/// <c>bookkeeper shell recover</c> and <c>decommissionbookie</c>): <c>dlog admin recover BOOKIE</c> for a dead bookie,
/// <c>dlog admin decommission BOOKIE</c> for a live one (first marked draining, so no new ledger or replacement picks
/// it, and still read from while its copies move). Each ledger is marked and worked on under the same lock as the
/// replication workers take; rounds repeat until no ledger names the bookie any more (a writer may have chosen it just
/// before it was marked draining). Then its registration and cookie are removed.
/// </summary>
public sealed partial class BookieRecovery(LedgerClient client, UnderReplicationStore state, AutoRecoveryOptions options, ILogger logger)
{
    /// <summary>Most rounds before giving up (a ledger that cannot be repaired keeps its mark).</summary>
    public int MaxRounds { get; init; } = 50;

    /// <summary>Moves every copy off <paramref name="bookieId"/>.</summary>
    /// <param name="bookieId">The bookie.</param>
    /// <param name="decommission">True for a live bookie being retired (marked draining, read from); false for a dead one.</param>
    /// <param name="cancellationToken">Cancels (what moved stays moved; the rest stays marked for the workers).</param>
    /// <exception cref="DlException">
    /// <c>BookieUnavailable</c> when the bookie is unknown; <c>IllegalState</c> when asked to recover a bookie that is
    /// registered (alive) or ledgers still name it after every round.
    /// </exception>
    public async Task<BookieRecoveryResult> RunAsync(string bookieId, bool decommission, CancellationToken cancellationToken)
    {
        var started = options.TimeProvider.GetTimestamp();
        var audit = new ClusterAudit(client, state, logger);
        var registered = await audit.RegisteredBookiesAsync(cancellationToken);
        var known = await audit.KnownBookiesAsync(cancellationToken);
        if (!registered.Contains(bookieId) && !known.Contains(bookieId) && !await NamedByAnyLedgerAsync(audit, bookieId, cancellationToken))
        {
            throw new DlException(StatusCode.BookieUnavailable, $"Bookie {bookieId} is not known to this cluster (no registration, no cookie, no ledger names it).");
        }

        if (!decommission && registered.Contains(bookieId))
        {
            throw new DlException(StatusCode.IllegalState,
                $"Bookie {bookieId} is registered (alive): use decommission to move its copies off a live bookie.");
        }

        if (decommission)
        {
            await state.SetDrainingAsync(bookieId, cancellationToken);
            LogDraining(bookieId);
        }

        var loss = decommission ? ReplicaLoss.Decommission : ReplicaLoss.Lost;
        var one = new HashSet<string>(StringComparer.Ordinal) { bookieId };
        await using var worker = new ReplicationWorker(client, state, options, logger);
        var ledgers = new HashSet<long>();
        for (int round = 1; ; round++)
        {
            var pending = new List<long>();
            await foreach (var ledger in audit.ScanLedgersAsync(cancellationToken))
            {
                if (ledger.Ensembles.Any(s => s.Bookies.Contains(bookieId, StringComparer.Ordinal)))
                {
                    pending.Add(ledger.LedgerId);
                }
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (round > MaxRounds)
            {
                throw new DlException(StatusCode.IllegalState,
                    $"{pending.Count} ledgers still have copies on bookie {bookieId} after {MaxRounds} rounds (first: {string.Join(", ", pending.Take(10))}); they stay marked for the replication workers.");
            }

            ledgers.UnionWith(pending);
            await audit.MarkLedgersOfAsync(one, loss, cancellationToken);
            bool waiting = false;
            foreach (long ledgerId in pending)
            {
                try
                {
                    var outcome = await worker.ProcessAsync(ledgerId, cancellationToken);
                    waiting |= outcome is ReplicationOutcome.Locked or ReplicationOutcome.Deferred or ReplicationOutcome.MarkChanged;
                }
                catch (DlException e) when (e.Code is not (StatusCode.NoSuchEntry or StatusCode.NotEnoughBookies))
                {
                    LogLedgerRetry(ledgerId, e.Message);
                    waiting = true;
                }
            }

            if (waiting)
            {
                await Task.Delay(options.WorkerPollInterval, options.TimeProvider, cancellationToken);
            }
        }

        // No ledger names it any more: it is no longer part of the cluster.
        await state.Store.CommitAsync(new MetadataTransaction().Delete(BookieKeys.Available(bookieId)).Delete(BookieKeys.Cookie(bookieId)), cancellationToken);
        var seconds = options.TimeProvider.GetElapsedTime(started).TotalSeconds;
        LogDone(bookieId, ledgers.Count, worker.EntriesCopied, seconds);
        return new BookieRecoveryResult(bookieId, ledgers.Count, worker.FragmentsCopied, worker.EntriesCopied, worker.BytesCopied, seconds);
    }

    private static async Task<bool> NamedByAnyLedgerAsync(ClusterAudit audit, string bookieId, CancellationToken cancellationToken)
    {
        await foreach (var ledger in audit.ScanLedgersAsync(cancellationToken))
        {
            if (ledger.Ensembles.Any(s => s.Bookies.Contains(bookieId, StringComparer.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Bookie {Bookie} is draining: no new copies go to it")]
    private partial void LogDraining(string bookie);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ledger {Ledger} could not be re-replicated in this round ({Error}); trying again")]
    private partial void LogLedgerRetry(long ledger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Bookie {Bookie}: every copy moved ({Ledgers} ledgers, {Entries} entries) in {Seconds:F1} s; its registration and cookie are removed")]
    private partial void LogDone(string bookie, long ledgers, long entries, double seconds);
}
