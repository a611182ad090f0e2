using System.Runtime.ExceptionServices;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Metadata;
using DistributedLog.Naming;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;

namespace DistributedLog.Readers;

/// <summary>
/// Reads a log's records in order from a start position, across segment rolls, and tails it: DistributedLog's
/// <c>AsyncLogReader</c>. Segments are read in LSSN order, each ledger opened without recovery (a reader never disturbs
/// the writer): a completed segment up to its last entry, the in-progress one up to the ledger's LAC, then by long-poll
/// reads; a metadata watch on the log's segments (and a periodic re-listing) tells when the in-progress segment is
/// completed and the next one starts. A background read-ahead keeps up to <see cref="LogReaderOptions.ReadAheadEntries"/>
/// entries decoded ahead of the application.
/// </summary>
/// <remarks>
/// <para>Control records are never returned; record sets come back one record per slot. Every record carries its DLSN,
/// sequence id (segment start sequence id + position − 1) and txid.</para>
/// <para>Reads may be issued concurrently; they are served one at a time, in call order. Cancelling a read's token
/// abandons that read only: no record is lost. Any other error is sticky, as in DistributedLog: the records read ahead
/// before it are still returned, then every read fails with the same exception. At the end-of-stream record every read
/// throws <see cref="LogEndOfStreamException"/>; the async enumeration (<see cref="GetAsyncEnumerator"/>) then simply
/// ends.</para>
/// </remarks>
public sealed partial class LogReader : IAsyncEnumerable<LogRecordWithDlsn>, IAsyncDisposable
{
    private readonly LogReaderOptions _options;
    private readonly TimeProvider _time;
    private readonly ReadAheadQueue _queue;
    private readonly SemaphoreSlim _readGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private ExceptionDispatchInfo? _failure;
    private int _disposed;
    private long _lastEntryRead = long.MinValue;
    private long _entriesRead;

    private LogReader(NamespaceMetadata ns, LedgerClient ledgers, IMetadataStore store, string logName, ReadPosition start,
        LogReaderOptions options, List<LogSegmentMetadata> segments, StartPlan plan)
    {
        _ns = ns;
        _ledgers = ledgers;
        _store = store;
        LogName = logName;
        StartPosition = start;
        _options = options;
        _time = options.TimeProvider;
        _queue = new ReadAheadQueue(options.ReadAheadEntries, options.ReadAheadBytes);
        _segments = segments;
        _plan = plan;
        _listedAt = _time.GetTimestamp();
    }

    /// <summary>The log being read.</summary>
    public string LogName { get; }

    /// <summary>Where the reader was asked to start.</summary>
    public ReadPosition StartPosition { get; }

    /// <summary>
    /// Entries the read-ahead has fetched from the bookies so far (control-only entries such as commits and keep-alives
    /// included; the reads that position a reader by txid are not).
    /// </summary>
    public long EntriesRead => Volatile.Read(ref _entriesRead);

    /// <summary>
    /// Opens a reader of <paramref name="logName"/> at <paramref name="start"/>. The position is resolved against the
    /// segments now: a DLSN before the first active position fails; a txid starts at the first active record with txid ≥ T
    /// (binary search over the segments' txid ranges, then inside the segment); a position past the end waits for new records.
    /// </summary>
    /// <param name="ns">The namespace holding the log.</param>
    /// <param name="ledgers">The ledger client used to read segments (never with recovery).</param>
    /// <param name="store">The metadata store of <paramref name="ns"/>, watched for segment changes.</param>
    /// <param name="logName">The log.</param>
    /// <param name="start">Where to start.</param>
    /// <param name="options">Settings (defaults when null).</param>
    /// <param name="cancellationToken">Cancels the opening (not the reader: dispose it to stop).</param>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="TruncatedPositionException">A DLSN position before the first active (not truncated) record.</exception>
    /// <exception cref="InvalidStreamNameException">The log name is invalid.</exception>
    public static async Task<LogReader> OpenAsync(NamespaceMetadata ns, LedgerClient ledgers, IMetadataStore store, string logName,
        ReadPosition start, LogReaderOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(ledgers);
        ArgumentNullException.ThrowIfNull(store);
        options ??= new LogReaderOptions();
        options.Validate();
        logName = Naming.LogName.Validate(logName);
        _ = await ns.GetLogAsync(logName, cancellationToken);

        // Watch first, then list: no segment change can fall between the two.
        var watch = await store.WatchAsync(ns.Layout.Segments(logName), isPrefix: true, cancellationToken);
        try
        {
            var segments = await ListSegmentsAsync(ns, logName, cancellationToken);
            var plan = await PlanAsync(ledgers, logName, segments, start, cancellationToken);
            var reader = new LogReader(ns, ledgers, store, logName, start, options, segments, plan);
            reader.Start(watch);
            return reader;
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Returns the next record, waiting for one if needed (at the tail: until the writer commits one).
    /// </summary>
    /// <param name="cancellationToken">Abandons this read (the reader stays usable and loses nothing).</param>
    /// <exception cref="LogEndOfStreamException">The log ended before another record.</exception>
    /// <exception cref="IdleReaderException">No record came within <see cref="LogReaderOptions.IdleReaderErrorThreshold"/>.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    /// <exception cref="DlException">The reader failed (sticky): a read, decoding or metadata error.</exception>
    public ValueTask<LogRecordWithDlsn> ReadNextAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return ValueTask.FromException<LogRecordWithDlsn>(new ObjectDisposedException(nameof(LogReader)));
        }

        if (_failure is { } failure)
        {
            return ValueTask.FromException<LogRecordWithDlsn>(failure.SourceException);
        }

        if (_readGate.Wait(0))
        {
            try
            {
                if (_queue.TryTake(out var record, out _))
                {
                    return ValueTask.FromResult(record!);
                }
            }
            finally
            {
                _readGate.Release();
            }
        }

        return ReadNextSlowAsync(cancellationToken);
    }

    /// <summary>
    /// Returns up to <paramref name="max"/> records: as soon as <paramref name="max"/> are available, or once
    /// <paramref name="wait"/> has passed with at least one; when none has come by then, waits for the first one and returns
    /// what is available (DistributedLog's <c>readBulk(n, wait)</c>). Never returns an empty list.
    /// </summary>
    /// <param name="max">Most records to return (≥ 1).</param>
    /// <param name="wait">How long to wait for <paramref name="max"/> records (zero: return what is there, waiting only for the first).</param>
    /// <param name="cancellationToken">Abandons this read (the reader stays usable and loses nothing).</param>
    /// <exception cref="LogEndOfStreamException">The log ended before another record.</exception>
    /// <exception cref="IdleReaderException">No record came within <see cref="LogReaderOptions.IdleReaderErrorThreshold"/>.</exception>
    /// <exception cref="DlException">The reader failed (sticky).</exception>
    public async Task<IReadOnlyList<LogRecordWithDlsn>> ReadBulkAsync(int max, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        if (wait != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        }

        ThrowIfUnusable();
        await _readGate.WaitAsync(cancellationToken);
        try
        {
            long started = _time.GetTimestamp();
            var records = new List<LogRecordWithDlsn>(Math.Min(max, 1024));
            if (wait != TimeSpan.Zero)
            {
                var enough = _queue.WaitForRecordsAsync(max);
                if (!enough.IsCompleted)
                {
                    try
                    {
                        await enough.WaitAsync(wait, _time, cancellationToken);
                    }
                    catch (TimeoutException)
                    {
                        // Time is up: return what is there (or wait for the first record below).
                    }
                }
            }

            while (true)
            {
                ThrowIfUnusable();
                if (_queue.TakeMany(records, max, out var terminal) > 0)
                {
                    return records;
                }

                if (terminal is not null)
                {
                    throw Fail(terminal);
                }

                await WaitForRecordAsync(started, cancellationToken);
            }
        }
        finally
        {
            _readGate.Release();
        }
    }

    /// <summary>Returns the records available now, up to <paramref name="max"/>, waiting only if there is none (DistributedLog's <c>readBulk(n)</c>).</summary>
    /// <param name="max">Most records to return (≥ 1).</param>
    /// <param name="cancellationToken">Abandons this read.</param>
    public Task<IReadOnlyList<LogRecordWithDlsn>> ReadBulkAsync(int max, CancellationToken cancellationToken = default) =>
        ReadBulkAsync(max, TimeSpan.Zero, cancellationToken);

    /// <summary>
    /// Enumerates the records from the reader's current position, tailing the log until the end of stream (the enumeration
    /// then ends), cancellation or an error. Consumes the reader's records like <see cref="ReadNextAsync"/>.
    /// </summary>
    public async IAsyncEnumerator<LogRecordWithDlsn> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            LogRecordWithDlsn record;
            try
            {
                record = await ReadNextAsync(cancellationToken);
            }
            catch (LogEndOfStreamException)
            {
                yield break;
            }

            yield return record;
        }
    }

    /// <summary>Stops the read-ahead and the metadata watch. Reads still waiting fail with <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await _pump;
        await _watchLoop;
        _queue.Complete(new ObjectDisposedException(nameof(LogReader)));
        _decoder.Dispose();
        _stop.Dispose();
    }

    private async ValueTask<LogRecordWithDlsn> ReadNextSlowAsync(CancellationToken cancellationToken)
    {
        await _readGate.WaitAsync(cancellationToken);
        try
        {
            long started = _time.GetTimestamp();
            while (true)
            {
                ThrowIfUnusable();
                if (_queue.TryTake(out var record, out var terminal))
                {
                    return record!;
                }

                if (terminal is not null)
                {
                    throw Fail(terminal);
                }

                await WaitForRecordAsync(started, cancellationToken);
            }
        }
        finally
        {
            _readGate.Release();
        }
    }

    /// <summary>Waits for one record (or the end), enforcing the idle threshold counted from <paramref name="started"/>.</summary>
    private async Task WaitForRecordAsync(long started, CancellationToken cancellationToken)
    {
        var ready = _queue.WaitForRecordsAsync(1);
        if (ready.IsCompleted)
        {
            return;
        }

        if (_options.IdleReaderErrorThreshold is not { } threshold)
        {
            await ready.WaitAsync(cancellationToken);
            return;
        }

        // Idle counts from the later of the read's start and the last entry read: keep-alive control records from an
        // idle writer (LogWriterOptions.KeepAliveInterval) keep a tailing reader alive without delivering anything.
        while (true)
        {
            long since = Math.Max(started, Volatile.Read(ref _lastEntryRead));
            var remaining = threshold - _time.GetElapsedTime(since);
            if (remaining <= TimeSpan.Zero)
            {
                throw Fail(new IdleReaderException(
                    $"Reader of log '{LogName}' received no record and no keep-alive for {threshold.TotalMilliseconds:0} ms (the idle reader error threshold): " +
                    "the writer may have stopped or stalled, or the reader cannot reach the data. Open a new reader to carry on."));
            }

            try
            {
                await ready.WaitAsync(remaining, _time, cancellationToken);
                return;
            }
            catch (TimeoutException)
            {
                // Look again: an entry may have been read meanwhile.
            }
        }
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _failure?.Throw();
    }

    /// <summary>Makes <paramref name="error"/> the reader's sticky failure (the first one wins), stops the read-ahead, and returns the failure.</summary>
    private Exception Fail(Exception error)
    {
        if (error is ObjectDisposedException)
        {
            return error;
        }

        Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(error), null);
        if (Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        return _failure!.SourceException;
    }

    private static async Task<List<LogSegmentMetadata>> ListSegmentsAsync(NamespaceMetadata ns, string logName, CancellationToken cancellationToken)
    {
        var listing = await ns.GetSegmentsAsync(logName, cancellationToken);
        var segments = new List<LogSegmentMetadata>(listing.Count);
        foreach (var (segment, _) in listing)
        {
            segments.Add(segment);
        }

        return segments;
    }

    /// <summary>Resolves the start position against the segments: which segment and entry the read-ahead starts at, and what it skips.</summary>
    private static async Task<StartPlan> PlanAsync(LedgerClient ledgers, string logName, List<LogSegmentMetadata> segments, ReadPosition start,
        CancellationToken cancellationToken)
    {
        var firstActive = SegmentReads.FirstActiveDlsn(segments, out bool truncated);
        if (start.Kind == ReadPositionKind.Dlsn)
        {
            var dlsn = start.Dlsn;
            if (truncated && dlsn < firstActive)
            {
                throw new TruncatedPositionException(
                    $"Cannot read log '{logName}' from DLSN {dlsn}: the records before {firstActive} are truncated. " +
                    $"Start at or after {firstActive}, or position the reader by txid to start at the truncation point.");
            }

            return new StartPlan(dlsn.LogSegmentSequenceNo, Math.Max(0, dlsn.EntryId), dlsn, long.MinValue, null);
        }

        // By txid: the first active segment that may hold a txid >= T (completed segments know their last txid).
        long txId = start.TxId;
        var floor = truncated ? firstActive : Dlsn.Invalid;
        LogSegmentMetadata? candidate = null;
        foreach (var segment in segments)
        {
            if (segment.Lssn < floor.LogSegmentSequenceNo || segment.Truncation == TruncationStatus.Truncated)
            {
                continue;
            }

            if (segment.IsInProgress || segment.LastTxId >= txId)
            {
                candidate = segment;
                break;
            }
        }

        if (candidate is null)
        {
            long next = segments.Count == 0 ? floor.LogSegmentSequenceNo : Math.Max(floor.LogSegmentSequenceNo, segments[^1].Lssn + 1);
            return new StartPlan(next, 0, floor, txId, null);
        }

        long entryFloor = candidate.Lssn == floor.LogSegmentSequenceNo ? Math.Max(0, floor.EntryId) : 0;
        if (entryFloor == 0 && candidate.FirstTxId >= txId)
        {
            return new StartPlan(candidate.Lssn, 0, floor, txId, null);
        }

        var ledger = await ledgers.OpenLedgerNoRecoveryAsync(candidate.LedgerId, cancellationToken);
        long last = SegmentReads.LastReadableEntry(candidate, ledger);
        long found = last >= entryFloor
            ? await SegmentReads.FindFirstEntryWithTxIdAsync(ledger, entryFloor, last, txId, cancellationToken)
            : -1;
        long startEntry = found >= 0 ? found : candidate.IsInProgress ? Math.Max(entryFloor, last + 1) : entryFloor;
        return new StartPlan(candidate.Lssn, startEntry, floor, txId, ledger);
    }

    /// <summary>Where the read-ahead starts and what it skips before the first record it returns.</summary>
    /// <param name="StartLssn">The first segment to read is the first with an LSSN at or above this.</param>
    /// <param name="StartEntry">The entry to start at, if that segment has LSSN <paramref name="StartLssn"/> (else 0).</param>
    /// <param name="MinDlsn">Records before this DLSN are skipped until the first one returned.</param>
    /// <param name="MinTxId">Records with a lower txid are skipped until the first one returned.</param>
    /// <param name="StartLedger">The start segment's ledger, when positioning already opened it.</param>
    private sealed record StartPlan(long StartLssn, long StartEntry, Dlsn MinDlsn, long MinTxId, LedgerReader? StartLedger);
}
