using DistributedLog.Cli.Chaos;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Tests.Chaos;

/// <summary>The chaos checker on hand-made histories: a good one passes, each kind of bad one is caught.</summary>
public sealed class HistoryCheckerTests
{
    private const string Log = "l1";

    /// <summary>
    /// A good history: writer w1 writes w1-0..w1-2, writer w2 w2-0 and w2-1 (interleaved in time); w2-2's outcome is
    /// unknown and it did not land; w1-3's outcome is unknown and it landed once; w2-3 failed and is absent.
    /// </summary>
    private sealed class Good
    {
        public History History { get; } = new();

        public List<ObservedRecord> Log { get; } =
        [
            new(new Dlsn(1, 0, 0), 10, "w1-0"),
            new(new Dlsn(1, 1, 0), 11, "w2-0"),
            new(new Dlsn(1, 1, 1), 12, "w1-1"),
            new(new Dlsn(2, 0, 0), 20, "w2-1"),
            new(new Dlsn(2, 1, 0), 21, "w1-2"),
            new(new Dlsn(3, 0, 0), 30, "w1-3"),
        ];

        public Good()
        {
            Write("w1", "w1-0", 0, 1, Log[0]);
            Write("w2", "w2-0", 2, 3, Log[1]);
            Write("w1", "w1-1", 2.5, 4, Log[2]);
            Write("w2", "w2-1", 5, 6, Log[3]);
            Write("w1", "w1-2", 5.5, 7, Log[4]);
            History.Add("w2", HistoryCheckerTests.Log, EventKind.Invoke, "w2-2", at: S(8));
            History.Add("w2", HistoryCheckerTests.Log, EventKind.Unknown, "w2-2", detail: "connection reset", at: S(9));
            History.Add("w1", HistoryCheckerTests.Log, EventKind.Invoke, "w1-3", at: S(8.5));
            History.Add("w1", HistoryCheckerTests.Log, EventKind.Unknown, "w1-3", detail: "writer killed", at: S(9));
            History.Add("w2", HistoryCheckerTests.Log, EventKind.Invoke, "w2-3", at: S(9.5));
            History.Add("w2", HistoryCheckerTests.Log, EventKind.Fail, "w2-3", detail: "cancelled", at: S(9.6));
        }

        public void Write(string client, string payload, double invoked, double acked, ObservedRecord at)
        {
            History.Add(client, HistoryCheckerTests.Log, EventKind.Invoke, payload, at: S(invoked));
            History.Add(client, HistoryCheckerTests.Log, EventKind.Ok, payload, at.Dlsn, at.TxId, at: S(acked));
        }

        public ReaderSession Read(string reader, IEnumerable<ObservedRecord> records, ReaderStart start = ReaderStart.Earliest, bool final = false,
            Dlsn? fromDlsn = null, long? fromTxId = null, IReadOnlyList<Dlsn?>? committed = null)
        {
            var session = History.Open(new ReaderSession(reader, HistoryCheckerTests.Log, start, S(0))
            {
                Final = final,
                Complete = final,
                FromDlsn = fromDlsn,
                FromTxId = fromTxId,
                Committed = committed ?? [],
            });
            foreach (var r in records)
            {
                session.Add(r);
            }

            return session;
        }

        /// <summary>The good readers: two final reads, a tail from the start, one by DLSN, one by txid, a resumed subscriber.</summary>
        public Good WithGoodReaders()
        {
            Read("final-core", Log, final: true);
            Read("final-proxy", Log, final: true);
            Read("tail", Log.Take(4));
            Read("by-dlsn", Log.Skip(2), ReaderStart.Dlsn, fromDlsn: new Dlsn(1, 1, 1));
            Read("by-dlsn-gap", Log.Skip(3), ReaderStart.Dlsn, fromDlsn: new Dlsn(1, 7, 0));
            Read("by-txid", Log.Skip(3).Take(2), ReaderStart.TxId, fromTxId: 13);
            Read("sub", Log.Take(2), ReaderStart.Subscriber);
            Read("sub", Log.Skip(2), ReaderStart.Subscriber, committed: [Log[1].Dlsn]);
            return this;
        }

        public IReadOnlyList<Violation> Check() => HistoryChecker.Check(History.Events, History.Sessions);
    }

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    private static Violation Single(Good good, ViolationKind kind)
    {
        var violations = good.Check();
        var v = Assert.Single(violations);
        Assert.True(v.Kind == kind, $"expected {kind}, got:\n{string.Join("\n", violations)}");
        Assert.NotEmpty(v.Excerpt);
        return v;
    }

    [Fact]
    public void A_good_history_passes()
    {
        var violations = new Good().WithGoodReaders().Check();
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void A_lost_acknowledged_write_is_caught()
    {
        var good = new Good();
        var without = good.Log.Where(r => r.Payload != "w2-1").ToList();
        good.Read("final", without, final: true);
        var v = Single(good, ViolationKind.Lost);
        Assert.Contains("w2-1", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_duplicated_acknowledged_write_is_caught()
    {
        var good = new Good();
        good.Read("final", [.. good.Log, new ObservedRecord(new Dlsn(3, 1, 0), 31, "w1-2")], final: true);
        Single(good, ViolationKind.Duplicated);
    }

    [Fact]
    public void A_duplicate_seen_by_a_reader_at_its_second_copy_is_reported_once_as_duplicated()
    {
        var good = new Good();
        var log = good.Log.Append(new ObservedRecord(new Dlsn(3, 1, 0), 31, "w1-2")).ToList();
        good.Read("final", log, final: true);
        good.Read("tail", log.Skip(5), ReaderStart.Dlsn, fromDlsn: new Dlsn(3, 0, 0));
        Single(good, ViolationKind.Duplicated);
    }

    [Fact]
    public void An_unknown_outcome_write_that_appears_twice_is_caught()
    {
        var good = new Good();
        good.Read("final", [.. good.Log, new ObservedRecord(new Dlsn(3, 1, 0), 31, "w1-3")], final: true);
        var v = Single(good, ViolationKind.Duplicated);
        Assert.Contains("unknown-outcome", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_writers_order_reversed_in_the_log_is_caught()
    {
        // w1 wrote w1-1 then w1-2 concurrently with nothing else; the log swaps them (each at the DLSN it was acked with).
        var history = new History();
        history.Add("w1", Log, EventKind.Invoke, "w1-1", at: S(0));
        history.Add("w1", Log, EventKind.Invoke, "w1-2", at: S(0.1));
        history.Add("w1", Log, EventKind.Ok, "w1-1", new Dlsn(1, 1, 0), 2, at: S(1));
        history.Add("w1", Log, EventKind.Ok, "w1-2", new Dlsn(1, 0, 0), 1, at: S(1.1));
        var final = history.Open(new ReaderSession("final", Log, ReaderStart.Earliest, S(2)) { Final = true, Complete = true });
        final.Add(new ObservedRecord(new Dlsn(1, 0, 0), 1, "w1-2"));
        final.Add(new ObservedRecord(new Dlsn(1, 1, 0), 2, "w1-1"));
        var v = Assert.Single(HistoryChecker.Check(history.Events, history.Sessions));
        Assert.Equal(ViolationKind.Reordered, v.Kind);
        Assert.Contains("writer w1", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_write_acknowledged_before_another_began_but_placed_after_it_is_caught()
    {
        // w1-0 acked at 1 s; w2-0 invoked at 2 s; yet w2-0 comes first.
        var history = new History();
        history.Add("w1", Log, EventKind.Invoke, "w1-0", at: S(0));
        history.Add("w1", Log, EventKind.Ok, "w1-0", new Dlsn(2, 0, 0), 5, at: S(1));
        history.Add("w2", Log, EventKind.Invoke, "w2-0", at: S(2));
        history.Add("w2", Log, EventKind.Ok, "w2-0", new Dlsn(1, 0, 0), 4, at: S(3));
        var final = history.Open(new ReaderSession("final", Log, ReaderStart.Earliest, S(4)) { Final = true, Complete = true });
        final.Add(new ObservedRecord(new Dlsn(1, 0, 0), 4, "w2-0"));
        final.Add(new ObservedRecord(new Dlsn(2, 0, 0), 5, "w1-0"));
        var v = Assert.Single(HistoryChecker.Check(history.Events, history.Sessions));
        Assert.Equal(ViolationKind.Reordered, v.Kind);
        Assert.Contains("acknowledged before", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_phantom_record_is_caught_in_the_log_and_in_a_reader()
    {
        var good = new Good();
        good.Read("final", [.. good.Log, new ObservedRecord(new Dlsn(3, 1, 0), 31, "w9-0")], final: true);
        Single(good, ViolationKind.Phantom);

        var tail = new Good();
        tail.Read("final", tail.Log, final: true);
        tail.Read("tail", [tail.Log[0], new ObservedRecord(new Dlsn(1, 0, 1), 10, "garbage")]);
        Single(tail, ViolationKind.Phantom);
    }

    [Fact]
    public void A_record_at_another_position_than_acknowledged_is_caught()
    {
        var good = new Good();
        var log = good.Log.ToList();
        log[3] = log[3] with { Dlsn = new Dlsn(2, 0, 5) };
        good.Read("final", log, final: true);
        Single(good, ViolationKind.Moved);
    }

    [Fact]
    public void A_definitely_failed_write_in_the_log_is_caught()
    {
        var good = new Good();
        good.Read("final", [.. good.Log, new ObservedRecord(new Dlsn(3, 1, 0), 31, "w2-3")], final: true);
        Single(good, ViolationKind.FailedWritePresent);
    }

    [Fact]
    public void Final_readers_that_disagree_are_caught()
    {
        var good = new Good();
        good.Read("final-core", good.Log, final: true);
        var swapped = good.Log.ToList();
        (swapped[4], swapped[5]) = (swapped[5] with { Dlsn = swapped[4].Dlsn }, swapped[4] with { Dlsn = swapped[5].Dlsn });
        good.Read("final-proxy", swapped, final: true);
        var v = Single(good, ViolationKind.Divergent);
        Assert.Contains("record 4", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tailing_reader_that_saw_a_record_the_log_lost_is_caught()
    {
        var good = new Good();
        good.Read("final", good.Log, final: true);

        // The tail saw w2-0 at another DLSN than the final read has it.
        good.Read("tail", [good.Log[0], good.Log[1] with { Dlsn = new Dlsn(1, 0, 1) }]);
        Single(good, ViolationKind.Divergent);
    }

    [Fact]
    public void A_reader_that_skipped_a_record_is_caught()
    {
        var good = new Good();
        good.Read("final", good.Log, final: true);
        good.Read("tail", [good.Log[0], good.Log[1], good.Log[3], good.Log[4]]);
        var v = Single(good, ViolationKind.Skipped);
        Assert.Contains("skipped 1", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reader_that_saw_a_record_twice_is_caught()
    {
        var good = new Good();
        good.Read("final", good.Log, final: true);
        good.Read("tail", [good.Log[0], good.Log[1], good.Log[1], good.Log[2]]);
        Single(good, ViolationKind.ReadTwice);
    }

    [Fact]
    public void A_subscriber_that_does_not_resume_at_its_committed_position_is_caught()
    {
        // Committed w2-0 (record 1) but resumed at record 1 again (a redelivery) …
        var again = new Good();
        again.Read("final", again.Log, final: true);
        again.Read("sub", again.Log.Skip(1), ReaderStart.Subscriber, committed: [again.Log[1].Dlsn]);
        Single(again, ViolationKind.SubscriberResume);

        // … or at record 3 (a skip).
        var skip = new Good();
        skip.Read("final", skip.Log, final: true);
        skip.Read("sub", skip.Log.Skip(3), ReaderStart.Subscriber, committed: [skip.Log[1].Dlsn]);
        Single(skip, ViolationKind.SubscriberResume);

        // A commit whose outcome is unknown may or may not have moved the position: both resumes pass.
        var unknown = new Good();
        unknown.Read("final", unknown.Log, final: true);
        unknown.Read("sub", unknown.Log.Skip(2), ReaderStart.Subscriber, committed: [unknown.Log[1].Dlsn, unknown.Log[2].Dlsn]);
        unknown.Read("sub", unknown.Log.Skip(3), ReaderStart.Subscriber, committed: [unknown.Log[1].Dlsn, unknown.Log[2].Dlsn]);
        Assert.Empty(unknown.Check());
    }

    [Fact]
    public void A_reader_positioned_by_txid_that_starts_late_is_caught()
    {
        var good = new Good();
        good.Read("final", good.Log, final: true);

        // First txid ≥ 12 is record 2 (w1-1); the reader started at record 3.
        good.Read("by-txid", good.Log.Skip(3), ReaderStart.TxId, fromTxId: 12);
        Single(good, ViolationKind.WrongStart);
    }

    [Fact]
    public void A_log_without_a_complete_final_read_is_unverifiable()
    {
        var good = new Good();
        var partial = good.Read("final", good.Log.Take(2), final: true);
        partial.Complete = false;
        Single(good, ViolationKind.Unverifiable);
    }

    [Fact]
    public void An_outcome_without_an_invoke_is_a_malformed_history()
    {
        var good = new Good();
        good.History.Add("w3", Log, EventKind.Ok, "w3-0", new Dlsn(9, 0, 0), 1, at: S(1));
        good.Read("final", good.Log, final: true);
        Single(good, ViolationKind.Malformed);
    }
}
