using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos;

/// <summary>The rule a <see cref="Violation"/> breaks.</summary>
internal enum ViolationKind
{
    /// <summary>An acknowledged write is missing from the log.</summary>
    Lost,

    /// <summary>A record appears twice in the log (an acknowledged or an unknown-outcome write).</summary>
    Duplicated,

    /// <summary>The log's order contradicts a writer's acknowledged order or real time (A acknowledged before B began, yet B first).</summary>
    Reordered,

    /// <summary>A record that nobody wrote.</summary>
    Phantom,

    /// <summary>An acknowledged write is in the log at another DLSN or txid than it was acknowledged with.</summary>
    Moved,

    /// <summary>A write that definitely failed is in the log.</summary>
    FailedWritePresent,

    /// <summary>Readers disagree on the log's records or order.</summary>
    Divergent,

    /// <summary>A reader delivered a record twice, or went back.</summary>
    ReadTwice,

    /// <summary>A reader skipped records.</summary>
    Skipped,

    /// <summary>A reader did not start where it was positioned.</summary>
    WrongStart,

    /// <summary>A subscriber did not resume just after its committed position.</summary>
    SubscriberResume,

    /// <summary>The log could not be read fully at the end, so nothing about it can be verified.</summary>
    Unverifiable,

    /// <summary>The history itself is malformed (an outcome without an invoke, two outcomes).</summary>
    Malformed,

    /// <summary>A write had no outcome within the hang threshold (the runner reports these; writes must fail cleanly).</summary>
    Hung,
}

/// <summary>A broken rule, with the shortest excerpt of the history that shows it.</summary>
internal sealed record Violation(ViolationKind Kind, string Log, string Message, IReadOnlyList<string> Excerpt)
{
    public override string ToString() =>
        $"{Kind} on log {Log}: {Message}" + string.Concat(Excerpt.Select(line => "\n    " + line));
}

/// <summary>
/// Checks a chaos run's <see cref="History"/>. The reference order of each log is its final read (a fresh reader from
/// the start, after the cluster healed). The rules:
/// <list type="bullet">
/// <item>every acknowledged write is in the log exactly once, at the DLSN and txid it was acknowledged with;</item>
/// <item>nothing is in the log that was never written; a write whose outcome is unknown is there at most once; a write
/// that definitely failed is not there;</item>
/// <item>the order respects each writer's acknowledged order and real time (a write acknowledged before another began
/// comes first);</item>
/// <item>every reader session saw a contiguous run of the reference order, starting where it was positioned (a subscriber
/// just after a position it committed): all readers agree on one order, none saw a record twice or skipped one.</item>
/// </list>
/// Pure: no I/O, no clock.
/// </summary>
internal static class HistoryChecker
{
    /// <summary>At most this many violations of one kind per log are reported (the first ones).</summary>
    private const int MaxPerKind = 5;

    public static IReadOnlyList<Violation> Check(IReadOnlyList<HistoryEvent> events, IReadOnlyList<ReaderSession> sessions)
    {
        var violations = new List<Violation>();
        var logs = events.Select(e => e.Log).Concat(sessions.Select(s => s.Log)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (string log in logs)
        {
            var perLog = new LogCheck(log, events.Where(e => e.Log == log).ToList(), sessions.Where(s => s.Log == log).ToList());
            perLog.Run();
            violations.AddRange(perLog.Violations
                .GroupBy(v => v.Kind)
                .SelectMany(g => g.Take(MaxPerKind)));
        }

        return violations;
    }

    /// <summary>A write: its invoke and its outcome (null: none recorded, as if unknown).</summary>
    private sealed record Write(string Payload, HistoryEvent Invoke, HistoryEvent? Outcome)
    {
        public EventKind Status => Outcome?.Kind ?? EventKind.Unknown;

        public IEnumerable<string> Lines => Outcome is null ? [Invoke.ToString(), "    (no outcome recorded)"] : [Invoke.ToString(), Outcome.ToString()];
    }

    private sealed class LogCheck(string log, List<HistoryEvent> events, List<ReaderSession> sessions)
    {
        private readonly Dictionary<string, Write> _writes = new(StringComparer.Ordinal);
        private IReadOnlyList<ObservedRecord> _reference = [];
        private ReaderSession? _referenceSession;
        private readonly Dictionary<string, int> _indexOfPayload = new(StringComparer.Ordinal);
        private readonly Dictionary<Dlsn, int> _indexOfDlsn = [];

        public List<Violation> Violations { get; } = [];

        public void Run()
        {
            CollectWrites();
            if (!PickReference())
            {
                return;
            }

            CheckReference();
            CheckOrder();
            foreach (var session in sessions.Where(s => s != _referenceSession))
            {
                if (session.Final)
                {
                    CheckFinalAgrees(session);
                }
                else
                {
                    CheckSession(session);
                }
            }
        }

        private void Add(ViolationKind kind, string message, IEnumerable<string> excerpt) =>
            Violations.Add(new Violation(kind, log, message, [.. excerpt]));

        private void CollectWrites()
        {
            var invokes = new Dictionary<string, HistoryEvent>(StringComparer.Ordinal);
            var outcomes = new Dictionary<string, HistoryEvent>(StringComparer.Ordinal);
            foreach (var e in events)
            {
                if (e.Kind == EventKind.Invoke)
                {
                    if (!invokes.TryAdd(e.Payload, e))
                    {
                        Add(ViolationKind.Malformed, $"payload {e.Payload} was written twice (payloads must be unique)", [invokes[e.Payload].ToString(), e.ToString()]);
                    }
                }
                else if (!invokes.ContainsKey(e.Payload))
                {
                    Add(ViolationKind.Malformed, $"an outcome of {e.Payload} without an invoke before it", [e.ToString()]);
                }
                else if (!outcomes.TryAdd(e.Payload, e))
                {
                    Add(ViolationKind.Malformed, $"two outcomes of {e.Payload}", [outcomes[e.Payload].ToString(), e.ToString()]);
                }
            }

            foreach (var (payload, invoke) in invokes)
            {
                _writes[payload] = new Write(payload, invoke, outcomes.GetValueOrDefault(payload));
            }
        }

        private bool PickReference()
        {
            _referenceSession = sessions.FirstOrDefault(s => s.Final && s.Complete);
            if (_referenceSession is null)
            {
                Add(ViolationKind.Unverifiable, "no final read of the whole log completed", sessions.Where(s => s.Final).Select(s => s + $": {s.Records.Count} records, incomplete"));
                return false;
            }

            _reference = _referenceSession.Records;
            for (int i = 0; i < _reference.Count; i++)
            {
                _indexOfPayload.TryAdd(_reference[i].Payload, i);
                _indexOfDlsn.TryAdd(_reference[i].Dlsn, i);
            }

            return true;
        }

        private IEnumerable<string> Around(int index, int radius = 2)
        {
            yield return $"final read ({_referenceSession!.Reader}), records {Math.Max(0, index - radius)}..{Math.Min(_reference.Count - 1, index + radius)}:";
            for (int i = Math.Max(0, index - radius); i <= Math.Min(_reference.Count - 1, index + radius); i++)
            {
                yield return $"  [{i}] {_reference[i]}" + (i == index ? "   <--" : "");
            }
        }

        private IEnumerable<string> WriteLines(string payload) =>
            _writes.TryGetValue(payload, out var w) ? w.Lines : [$"(no write of {payload} in the history)"];

        private void CheckReference()
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < _reference.Count; i++)
            {
                var r = _reference[i];
                if (!_writes.TryGetValue(r.Payload, out var write))
                {
                    Add(ViolationKind.Phantom, $"{r.Payload} at {r.Dlsn} was never written", Around(i));
                    continue;
                }

                if (seen.TryGetValue(r.Payload, out int first))
                {
                    string what = write.Status == EventKind.Unknown ? "an unknown-outcome write" : $"a write with outcome {write.Status.ToString().ToLowerInvariant()}";
                    Add(ViolationKind.Duplicated, $"{r.Payload} ({what}) appears twice: at {_reference[first].Dlsn} and at {r.Dlsn}",
                        [.. write.Lines, .. Around(first, 0), .. Around(i, 0)]);
                    continue;
                }

                seen[r.Payload] = i;
                if (write.Status == EventKind.Fail)
                {
                    Add(ViolationKind.FailedWritePresent, $"{r.Payload} failed definitely, yet is in the log at {r.Dlsn}", [.. write.Lines, .. Around(i, 0)]);
                }
                else if (write.Status == EventKind.Ok && (write.Outcome!.Dlsn != r.Dlsn || write.Outcome.TxId != r.TxId))
                {
                    Add(ViolationKind.Moved, $"{r.Payload} was acknowledged at {write.Outcome.Dlsn} txid {write.Outcome.TxId} but is at {r.Dlsn} txid {r.TxId}",
                        [.. write.Lines, .. Around(i, 1)]);
                }
            }

            foreach (var write in _writes.Values.Where(w => w.Status == EventKind.Ok && !seen.ContainsKey(w.Payload)).OrderBy(w => w.Invoke.Index))
            {
                var at = write.Outcome!.Dlsn!.Value;
                int near = LowerBound(at);
                Add(ViolationKind.Lost, $"{write.Payload}, acknowledged at {at}, is not in the log", [.. write.Lines, .. Around(Math.Min(near, _reference.Count - 1), 1)]);
            }
        }

        /// <summary>Index of the first reference record at or after <paramref name="dlsn"/>.</summary>
        private int LowerBound(Dlsn dlsn)
        {
            int i = 0;
            while (i < _reference.Count && _reference[i].Dlsn < dlsn)
            {
                i++;
            }

            return i;
        }

        private void CheckOrder()
        {
            for (int i = 1; i < _reference.Count; i++)
            {
                if (_reference[i].Dlsn <= _reference[i - 1].Dlsn)
                {
                    Add(ViolationKind.Reordered, $"the final read's DLSNs go back: {_reference[i - 1].Dlsn} then {_reference[i].Dlsn}", Around(i, 1));
                }
            }

            // Acknowledged writes present in the log, in the order they were invoked.
            var acked = _writes.Values
                .Where(w => w.Status == EventKind.Ok && _indexOfPayload.ContainsKey(w.Payload))
                .OrderBy(w => w.Invoke.Index)
                .ToList();

            // Each writer's acknowledged writes are in the log in the order it wrote them.
            foreach (var byClient in acked.GroupBy(w => w.Invoke.Client))
            {
                Write? previous = null;
                foreach (var w in byClient)
                {
                    if (previous is not null && _indexOfPayload[w.Payload] < _indexOfPayload[previous.Payload])
                    {
                        Add(ViolationKind.Reordered, $"writer {byClient.Key} wrote {previous.Payload} before {w.Payload}, but the log has them the other way round",
                            [.. previous.Lines, .. w.Lines, .. Around(_indexOfPayload[w.Payload], 0), .. Around(_indexOfPayload[previous.Payload], 0)]);
                    }

                    previous = w;
                }
            }

            // Real time: a write acknowledged before another was invoked comes first in the log.
            var byCompletion = acked.OrderBy(w => w.Outcome!.Index).ToList();
            int next = 0;
            Write? latest = null;
            foreach (var b in acked)
            {
                while (next < byCompletion.Count && byCompletion[next].Outcome!.Index < b.Invoke.Index)
                {
                    var a = byCompletion[next++];
                    if (latest is null || _indexOfPayload[a.Payload] > _indexOfPayload[latest.Payload])
                    {
                        latest = a;
                    }
                }

                if (latest is not null && _indexOfPayload[b.Payload] < _indexOfPayload[latest.Payload])
                {
                    Add(ViolationKind.Reordered,
                        $"{latest.Payload} was acknowledged before {b.Payload} was written, but the log has {b.Payload} first",
                        [.. latest.Lines, .. b.Lines, .. Around(_indexOfPayload[b.Payload], 0), .. Around(_indexOfPayload[latest.Payload], 0)]);
                }
            }
        }

        private void CheckFinalAgrees(ReaderSession other)
        {
            var records = other.Records;
            int n = other.Complete ? Math.Max(records.Count, _reference.Count) : records.Count;
            for (int i = 0; i < n; i++)
            {
                var mine = i < records.Count ? records[i] : (ObservedRecord?)null;
                var theirs = i < _reference.Count ? _reference[i] : (ObservedRecord?)null;
                if (mine != theirs)
                {
                    Add(ViolationKind.Divergent, $"final reads disagree at record {i}: {_referenceSession!.Reader} has {theirs?.ToString() ?? "nothing"}, " +
                        $"{other.Reader} has {mine?.ToString() ?? "nothing"}", [other.ToString(), .. Around(Math.Min(i, _reference.Count - 1), 1)]);
                    return;
                }
            }
        }

        private void CheckSession(ReaderSession session)
        {
            var records = session.Records;
            if (records.Count == 0)
            {
                return;
            }

            int? previous = null;
            for (int k = 0; k < records.Count; k++)
            {
                var r = records[k];
                IEnumerable<string> Window() =>
                    [session.ToString(), .. Enumerable.Range(Math.Max(0, k - 2), Math.Min(records.Count, k + 2) - Math.Max(0, k - 2))
                        .Select(j => $"  saw [{j}] {records[j]}" + (j == k ? "   <--" : ""))];

                // Matched by position: a record the log holds twice (reported once, as Duplicated) is seen at either copy.
                if (!_indexOfDlsn.TryGetValue(r.Dlsn, out int index) || _reference[index].Payload != r.Payload)
                {
                    if (!_writes.ContainsKey(r.Payload))
                    {
                        Add(ViolationKind.Phantom, $"reader {session.Reader} saw {r.Payload} at {r.Dlsn}, which was never written", Window());
                    }
                    else
                    {
                        Add(ViolationKind.Divergent, $"reader {session.Reader} saw {r.Payload} at {r.Dlsn}, the final read " +
                            (_indexOfDlsn.TryGetValue(r.Dlsn, out int there) ? $"has {_reference[there].Payload} there" : "has nothing there") +
                            (_indexOfPayload.TryGetValue(r.Payload, out int at) ? $" and {r.Payload} at {_reference[at].Dlsn}" : $" and no {r.Payload}"),
                            [.. Window(), .. WriteLines(r.Payload), .. Around(LowerBound(r.Dlsn), 1)]);
                    }

                    return;
                }

                if (previous is null)
                {
                    CheckStart(session, index, Window);
                }
                else if (index <= previous)
                {
                    Add(ViolationKind.ReadTwice, $"reader {session.Reader} went back from {records[k - 1].Dlsn} to {r.Dlsn}" +
                        (index == previous ? " (the same record twice)" : " (records it had seen)"), Window());
                    return;
                }
                else if (index > previous + 1)
                {
                    Add(ViolationKind.Skipped, $"reader {session.Reader} skipped {index - previous - 1} record(s) after {records[k - 1].Dlsn}",
                        [.. Window(), .. Around(previous.Value + 1, 1)]);
                    return;
                }

                previous = index;
            }
        }

        private void CheckStart(ReaderSession session, int index, Func<IEnumerable<string>> window)
        {
            switch (session.Start)
            {
                case ReaderStart.Earliest:
                    if (index != 0)
                    {
                        Add(ViolationKind.WrongStart, $"reader {session.Reader} was to start at the first record but started at [{index}]", [.. window(), .. Around(0, 1)]);
                    }

                    break;
                case ReaderStart.Dlsn:
                    int expected = LowerBound(session.FromDlsn!.Value);
                    if (index != expected)
                    {
                        Add(ViolationKind.WrongStart, $"reader {session.Reader} was to start at the first record at or after {session.FromDlsn} ([{expected}]) " +
                            $"but started at [{index}]", [.. window(), .. Around(expected, 1)]);
                    }

                    break;
                case ReaderStart.TxId:
                    int firstAtTxId = 0;
                    while (firstAtTxId < _reference.Count && _reference[firstAtTxId].TxId < session.FromTxId)
                    {
                        firstAtTxId++;
                    }

                    if (index != firstAtTxId)
                    {
                        Add(ViolationKind.WrongStart, $"reader {session.Reader} was to start at the first record with txid ≥ {session.FromTxId} ([{firstAtTxId}]) " +
                            $"but started at [{index}]", [.. window(), .. Around(firstAtTxId, 1)]);
                    }

                    break;
                case ReaderStart.Subscriber:
                    var allowed = session.Committed.Count == 0
                        ? [0]
                        : session.Committed.Select(c => c is { } position ? LowerBound(position.Next()) : 0).ToList();
                    if (!allowed.Contains(index))
                    {
                        Add(ViolationKind.SubscriberResume, $"subscriber {session.Reader} resumed at [{index}] {_reference[index].Dlsn}, not just after its committed " +
                            $"position ({string.Join(" or ", session.Committed.Select(c => c?.ToString() ?? "none"))}: [{string.Join(", ", allowed)}])",
                            [.. window(), .. Around(allowed[0], 1)]);
                    }

                    break;
            }
        }
    }
}
