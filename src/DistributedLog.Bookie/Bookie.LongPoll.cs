using DistributedLog.Bookie.Server;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie;

public sealed partial class Bookie
{
    /// <summary>
    /// A long-poll read: answers at once if the ledger's LAC already reaches <paramref name="entryId"/>, else waits until an
    /// add piggybacks a LAC that does or <paramref name="timeout"/> passes (then answers <c>Timeout</c> with the current LAC).
    /// A ledger this bookie has not seen yet is waited on too: its first entries may still be on their way.
    /// </summary>
    internal void LongPoll(long ledgerId, long entryId, TimeSpan timeout, IResponseSink sink, ulong requestId)
    {
        if (_storage.IsDeleted(ledgerId))
        {
            sink.Send(new BookieResponse(BookieOp.LongPollRead, requestId, StatusCode.NoSuchLedger, ledgerId, entryId, -1));
            return;
        }

        var ledger = _ledgers.GetOrAdd(ledgerId, static id => new BookieLedger(id));
        LoadLedger(ledger);
        if (Volatile.Read(ref ledger.Lac) >= entryId)
        {
            SendLongPollEntry(sink, requestId, ledger, entryId);
            return;
        }

        if (timeout > _options.MaxLongPollTimeout)
        {
            timeout = _options.MaxLongPollTimeout;
        }

        var waiter = new LongPollWaiter { Sink = sink, RequestId = requestId, EntryId = entryId, Ledger = ledger };
        lock (ledger.Waiters)
        {
            ledger.Waiters.Add(waiter);
        }

        waiter.Timer = _options.TimeProvider.CreateTimer(static s => ((Bookie)((object[])s!)[0]).TimeOutLongPoll((LongPollWaiter)((object[])s!)[1]),
            new object[] { this, waiter }, timeout, Timeout.InfiniteTimeSpan);

        // The LAC may have moved between the check and the registration.
        if (Volatile.Read(ref ledger.Lac) >= entryId)
        {
            WakeLongPolls(ledger);
        }
    }

    private void WakeLongPolls(BookieLedger ledger)
    {
        long lac = Volatile.Read(ref ledger.Lac);
        List<LongPollWaiter>? ready = null;
        lock (ledger.Waiters)
        {
            for (int i = ledger.Waiters.Count - 1; i >= 0; i--)
            {
                var waiter = ledger.Waiters[i];
                if (waiter.EntryId <= lac)
                {
                    (ready ??= []).Add(waiter);
                    ledger.Waiters.RemoveAt(i);
                }
            }
        }

        if (ready is null)
        {
            return;
        }

        foreach (var waiter in ready)
        {
            if (Interlocked.Exchange(ref waiter.Answered, 1) == 0)
            {
                waiter.Timer?.Dispose();
                SendLongPollEntry(waiter.Sink, waiter.RequestId, ledger, waiter.EntryId);
            }
        }
    }

    private void TimeOutLongPoll(LongPollWaiter waiter)
    {
        var ledger = waiter.Ledger;
        lock (ledger.Waiters)
        {
            ledger.Waiters.Remove(waiter);
            // A poll on a ledger this bookie never stored anything for must not leave state behind.
            if (ledger.Waiters.Count == 0 && Volatile.Read(ref ledger.LastEntryId) < 0 && Volatile.Read(ref ledger.MasterKey) is null
                && !ledger.Fenced && !_storage.LedgerExists(ledger.LedgerId))
            {
                _ledgers.TryRemove(KeyValuePair.Create(ledger.LedgerId, ledger));
            }
        }

        if (Interlocked.Exchange(ref waiter.Answered, 1) == 0)
        {
            waiter.Timer?.Dispose();
            long lac = Volatile.Read(ref waiter.Ledger.Lac);
            waiter.Sink.Send(new BookieResponse(BookieOp.LongPollRead, waiter.RequestId, StatusCode.Timeout, waiter.Ledger.LedgerId, waiter.EntryId, lac));
        }
    }

    private void FailLongPolls(BookieLedger ledger, StatusCode status)
    {
        LongPollWaiter[] waiters;
        lock (ledger.Waiters)
        {
            waiters = [.. ledger.Waiters];
            ledger.Waiters.Clear();
        }

        foreach (var waiter in waiters)
        {
            if (Interlocked.Exchange(ref waiter.Answered, 1) == 0)
            {
                waiter.Timer?.Dispose();
                waiter.Sink.Send(new BookieResponse(BookieOp.LongPollRead, waiter.RequestId, status, ledger.LedgerId, waiter.EntryId, -1));
            }
        }
    }

    /// <summary>Answers a poll whose entry the LAC covers; if this bookie lacks the entry (another replica has it), the answer carries just the LAC.</summary>
    private void SendLongPollEntry(IResponseSink sink, ulong requestId, BookieLedger ledger, long entryId) =>
        sink.Send(ReadResponse(BookieOp.LongPollRead, requestId, ledger.LedgerId, entryId, Volatile.Read(ref ledger.Lac)));
}
