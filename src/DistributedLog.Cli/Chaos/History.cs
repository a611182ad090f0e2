using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos;

/// <summary>What a history event records: a write begun, or its outcome.</summary>
internal enum EventKind
{
    /// <summary>The client began a write.</summary>
    Invoke,

    /// <summary>The write was acknowledged (durable), with its DLSN and txid.</summary>
    Ok,

    /// <summary>The write definitely did not happen (it was never sent, or it was refused before being written).</summary>
    Fail,

    /// <summary>The write may or may not have happened (a timeout, a broken connection, a killed writer).</summary>
    Unknown,
}

/// <summary>
/// One event of a write: <see cref="EventKind.Invoke"/> then one of ok / fail / unknown, for the same
/// <see cref="Payload"/> (payloads are unique in a run, and say who wrote them: <c>w&lt;writer&gt;-&lt;n&gt;</c>).
/// </summary>
/// <param name="Index">Position in the history (events are numbered in the order they were recorded).</param>
/// <param name="Time">When, since the start of the run.</param>
/// <param name="Client">The writer (a workload or a writer process).</param>
/// <param name="Log">The log written to.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Payload">The record's payload, unique in the run.</param>
/// <param name="Dlsn">The acknowledged position (ok only).</param>
/// <param name="TxId">The acknowledged txid (ok only).</param>
/// <param name="Detail">The error of a fail / unknown.</param>
internal sealed record HistoryEvent(long Index, TimeSpan Time, string Client, string Log, EventKind Kind, string Payload, Dlsn? Dlsn = null,
    long? TxId = null, string? Detail = null)
{
    public override string ToString() =>
        $"#{Index} {Time.TotalSeconds,8:F3}s {Client,-12} {Log,-10} {Kind.ToString().ToLowerInvariant(),-7} {Payload}" +
        (Dlsn is { } d ? $" dlsn={d}" : "") + (TxId is { } t ? $" txid={t}" : "") + (Detail is null ? "" : $" ({Detail})");
}

/// <summary>One record as a reader delivered it.</summary>
internal readonly record struct ObservedRecord(Dlsn Dlsn, long TxId, string Payload)
{
    public override string ToString() => $"{Dlsn} txid={TxId} {Payload}";
}

/// <summary>Where a reader session started.</summary>
internal enum ReaderStart
{
    /// <summary>At the first record of the log.</summary>
    Earliest,

    /// <summary>At the first record at or after <see cref="ReaderSession.FromDlsn"/>.</summary>
    Dlsn,

    /// <summary>At the first record whose txid is at least <see cref="ReaderSession.FromTxId"/>.</summary>
    TxId,

    /// <summary>Just after a subscriber's committed position (<see cref="ReaderSession.Committed"/>).</summary>
    Subscriber,
}

/// <summary>
/// What one reader saw between opening and closing (a reader that is restarted starts a new session): the records in
/// the order it delivered them.
/// </summary>
internal sealed class ReaderSession
{
    private readonly List<ObservedRecord> _records = [];

    public ReaderSession(string reader, string log, ReaderStart start, TimeSpan opened)
    {
        Reader = reader;
        Log = log;
        Start = start;
        Opened = opened;
    }

    /// <summary>The reader's name (e.g. <c>proxy-tail-1</c>).</summary>
    public string Reader { get; }

    public string Log { get; }

    public ReaderStart Start { get; }

    public TimeSpan Opened { get; }

    /// <summary>For <see cref="ReaderStart.Dlsn"/>.</summary>
    public Dlsn? FromDlsn { get; init; }

    /// <summary>For <see cref="ReaderStart.TxId"/>.</summary>
    public long? FromTxId { get; init; }

    /// <summary>
    /// For <see cref="ReaderStart.Subscriber"/>: the positions the subscriber may have committed when the session opened —
    /// the last commit known to have succeeded, then any later commits whose outcome is unknown (null: none ever
    /// succeeded, so the session may also start at the first record).
    /// </summary>
    public IReadOnlyList<Dlsn?> Committed { get; init; } = [];

    /// <summary>Whether this is a full read from the start after the cluster healed (the reference order).</summary>
    public bool Final { get; init; }

    /// <summary>Whether a final read ran to the end of the log (false: it failed part way).</summary>
    public bool Complete { get; set; }

    public IReadOnlyList<ObservedRecord> Records
    {
        get
        {
            lock (_records)
            {
                return [.. _records];
            }
        }
    }

    public void Add(ObservedRecord record)
    {
        lock (_records)
        {
            _records.Add(record);
        }
    }

    public override string ToString() => $"reader {Reader} on {Log} from {Start switch
    {
        ReaderStart.Dlsn => $"dlsn {FromDlsn}",
        ReaderStart.TxId => $"txid {FromTxId}",
        ReaderStart.Subscriber => $"subscriber position {string.Join(" or ", Committed.Select(c => c?.ToString() ?? "none"))}",
        _ => "the start",
    }}{(Final ? " (final read)" : "")} opened at {Opened.TotalSeconds:F3}s";
}

/// <summary>
/// The history of a chaos run: every write's invoke and outcome, and every reader session. Thread-safe: workloads
/// record into it concurrently.
/// </summary>
internal sealed class History(TimeProvider time)
{
    private readonly List<HistoryEvent> _events = [];
    private readonly List<ReaderSession> _sessions = [];
    private readonly long _started = time.GetTimestamp();

    public History()
        : this(TimeProvider.System)
    {
    }

    /// <summary>Time since the start of the run.</summary>
    public TimeSpan Now => time.GetElapsedTime(_started);

    public IReadOnlyList<HistoryEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public IReadOnlyList<ReaderSession> Sessions
    {
        get
        {
            lock (_sessions)
            {
                return [.. _sessions];
            }
        }
    }

    public HistoryEvent Invoke(string client, string log, string payload) => Add(client, log, EventKind.Invoke, payload);

    public HistoryEvent Ok(string client, string log, string payload, Dlsn dlsn, long txId) => Add(client, log, EventKind.Ok, payload, dlsn, txId);

    public HistoryEvent Fail(string client, string log, string payload, string detail) => Add(client, log, EventKind.Fail, payload, detail: detail);

    public HistoryEvent Unknown(string client, string log, string payload, string detail) => Add(client, log, EventKind.Unknown, payload, detail: detail);

    /// <summary>Adds an event at an explicit time (for hand-made histories).</summary>
    public HistoryEvent Add(string client, string log, EventKind kind, string payload, Dlsn? dlsn = null, long? txId = null, string? detail = null,
        TimeSpan? at = null)
    {
        lock (_events)
        {
            var e = new HistoryEvent(_events.Count, at ?? Now, client, log, kind, payload, dlsn, txId, detail);
            _events.Add(e);
            return e;
        }
    }

    public ReaderSession Open(ReaderSession session)
    {
        lock (_sessions)
        {
            _sessions.Add(session);
        }

        return session;
    }

    /// <summary>Acknowledged writes so far.</summary>
    public int Acknowledged
    {
        get
        {
            lock (_events)
            {
                return _events.Count(e => e.Kind == EventKind.Ok);
            }
        }
    }
}
