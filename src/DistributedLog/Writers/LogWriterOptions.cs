using DistributedLog.Protocol.Entries;

namespace DistributedLog.Writers;

/// <summary>Settings of a log writer (DistributedLog's writer knobs). Defaults favour low latency with batching under load.</summary>
public sealed record LogWriterOptions
{
    /// <summary>Ensemble size of each segment's ledger. Default 3.</summary>
    public int EnsembleSize { get; init; } = 3;

    /// <summary>Write quorum. Default 3.</summary>
    public int WriteQuorumSize { get; init; } = 3;

    /// <summary>Ack quorum. Default 2.</summary>
    public int AckQuorumSize { get; init; } = 2;

    /// <summary>Records are packed into one entry until it holds this many bytes (then it is sent). Default 16 KiB.</summary>
    public int OutputBufferSize { get; init; } = 16 * 1024;

    /// <summary>
    /// Nagle-style batching: a record is sent at once while fewer than this many of the segment's user entries await their
    /// acknowledgement, and what accumulated is sent as soon as one is acknowledged; otherwise records wait for
    /// <see cref="OutputBufferSize"/> or <see cref="FlushInterval"/>. An idle log thus sends without delay and a busy one
    /// batches exactly as long as its entries are in flight — which also carries the advanced LAC to the bookies one
    /// round trip after an acknowledgement, so tailing readers see it at once. (Timers are coarse: on Linux a 1 ms timer
    /// fires after about 4 ms.) 0 turns it off. Default 1.
    /// </summary>
    public int EagerFlushBelow { get; init; } = 1;

    /// <summary>
    /// When the last unacknowledged user entry is acknowledged and nothing waits to be sent, write a control record at once
    /// so that the LAC reaches the bookies and tailing readers see the entry one round trip later (instead of after
    /// <see cref="CommitDelay"/>). Costs one small entry per lull in the writes. Default true.
    /// </summary>
    public bool CommitOnIdle { get; init; } = true;

    /// <summary>A partly filled entry is sent after this long. Default 1 ms. Ignored with <see cref="ImmediateFlush"/>.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Send every record as soon as it is written (no batching delay; records written meanwhile still share entries). Default false.</summary>
    public bool ImmediateFlush { get; init; }

    /// <summary>After this long without writes, a control record is sent so that readers see the last entry (commit). Default 5 ms.</summary>
    public TimeSpan CommitDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// DistributedLog's <c>periodicKeepAliveMilliSeconds</c>: when the segment has sent nothing for this long, a
    /// keep-alive control record is written. Tailing readers see the log advance, so their idle error
    /// (<see cref="Readers.LogReaderOptions.IdleReaderErrorThreshold"/>) then means a stalled or dead writer, not a quiet
    /// one. Null or not positive (the default, as in DistributedLog) sends none; the write proxy turns it on.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; init; }

    /// <summary>
    /// Back-pressure: at most this many records may be accepted and not yet acknowledged (or failed). Beyond it
    /// <see cref="AsyncLogWriter.TryWrite"/> refuses and <see cref="AsyncLogWriter.WriteAsync(Protocol.Records.LogRecord, CancellationToken)"/>
    /// waits; the plain <see cref="AsyncLogWriter.WriteAsync(Protocol.Records.LogRecord)"/> is not held back (the caller
    /// bounds itself). Shared by every caller of one writer (e.g. all write streams of one log on a proxy). Default 16 Ki.
    /// </summary>
    public int MaxOutstandingRecords { get; init; } = 16 * 1024;

    /// <summary>Back-pressure: at most this many bytes of records outstanding (see <see cref="MaxOutstandingRecords"/>). Default 64 MiB.</summary>
    public long MaxOutstandingBytes { get; init; } = 64L << 20;

    /// <summary>Compression of entries. Default none.</summary>
    public CompressionCodec Compression { get; init; } = CompressionCodec.None;

    /// <summary>A segment is completed and a new one started once it holds this many bytes. Default 256 MiB.</summary>
    public long MaxSegmentBytes { get; init; } = 256L << 20;

    /// <summary>When set, a segment is also rolled once it is this old. Default none.</summary>
    public TimeSpan? SegmentRollingInterval { get; init; }

    /// <summary>How long to wait for the ownership lock held by another writer before failing. Default 0 (fail at once).</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>Time to live of the ownership lease: after a writer's process dies, another can take over after this long. Default 10 s.</summary>
    public TimeSpan OwnershipTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Take over without the ownership lock (DistributedLog's disabled lock): the new writer fences the previous one's
    /// segment and carries on; the previous writer's next write fails. Default false.
    /// </summary>
    public bool DisableOwnershipLock { get; init; }

    /// <summary>
    /// The endpoint of the write proxy hosting this writer, recorded in the ownership lock so that other proxies can
    /// redirect requests for the log to it (see <see cref="LogOwner"/>). Null for a writer in an application.
    /// </summary>
    public string? OwnerEndpoint { get; init; }

    /// <summary>The clock for flush timers and rolling.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
