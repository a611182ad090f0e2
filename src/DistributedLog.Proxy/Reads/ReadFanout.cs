using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Readers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Reads;

/// <summary>
/// The proxy's read fan-out: one <see cref="LogFanout"/> (one shared tailing reader and its cache window) per log being read,
/// shared by every read call of that log on this proxy, and released a short while after its last reader left.
/// </summary>
internal sealed partial class ReadFanout : IAsyncDisposable
{
    /// <summary>How long a log's fan-out outlives its last reader (a reader that reconnects finds its cache still warm).</summary>
    public static readonly TimeSpan DefaultLinger = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, LogFanout> _logs = new(StringComparer.Ordinal);
    private readonly HashSet<LogFanout> _live = [];
    private readonly List<Task> _closing = [];
    private readonly long _cacheBytes;
    private readonly TimeSpan _linger;
    private readonly ProxyMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private long _entriesShared;
    private long _entriesAlone;
    private long _recordsFromCache;
    private long _recordsAlone;
    private long _readsAlone;
    private long _fellBehind;
    private long _rejoins;
    private int _disposed;

    public ReadFanout(long cacheBytes, ProxyMetrics metrics, TimeProvider time, ILogger logger, TimeSpan? linger = null)
    {
        _cacheBytes = cacheBytes;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _linger = linger ?? DefaultLinger;
    }

    /// <summary>What the fan-out did so far (also on the proxy's meter).</summary>
    public ReadFanoutStats Stats => new(
        Interlocked.Read(ref _entriesShared), Interlocked.Read(ref _entriesAlone), Interlocked.Read(ref _recordsFromCache),
        Interlocked.Read(ref _recordsAlone), Interlocked.Read(ref _readsAlone), Interlocked.Read(ref _fellBehind), Interlocked.Read(ref _rejoins),
        SharedLogs);

    /// <summary>Logs with a fan-out now (including those lingering after their last reader).</summary>
    public int SharedLogs
    {
        get
        {
            lock (_gate)
            {
                return _logs.Count;
            }
        }
    }

    /// <summary>
    /// A reader of <paramref name="log"/> at <paramref name="position"/>: attached to the log's shared cache when it covers the
    /// position (the first reader of a log opens the shared reader at its own position), else reading alone until it catches
    /// up. Errors are those of <see cref="LogManager.OpenReaderAsync(ReadPosition, LogReaderOptions?, CancellationToken)"/>.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="TruncatedPositionException">A DLSN before the first active record.</exception>
    public async Task<FanoutReader> OpenAsync(LogManager log, ReadPosition position, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var active = await log.Queries.GetActiveStartAsync(log.Name, cancellationToken);
        if (position.Kind == ReadPositionKind.Dlsn && active.Truncated && position.Dlsn < active.FirstActive)
        {
            throw new TruncatedPositionException(
                $"Cannot read log '{log.Name}' from DLSN {position.Dlsn}: the records before {active.FirstActive} are truncated. " +
                $"Start at or after {active.FirstActive}, or position the reader by txid to start at the truncation point.");
        }

        LogFanout fanout;
        bool created = false;
        lock (_gate)
        {
            if (!_logs.TryGetValue(log.Name, out var existing) || existing.CreatedAt != active.CreatedAt || existing.IsBroken)
            {
                if (existing is not null)
                {
                    RetireLocked(existing);
                }

                existing = new LogFanout(this, log.Name, active.CreatedAt, _cacheBytes);
                _logs[log.Name] = existing;
                _live.Add(existing);
                created = true;
            }

            fanout = existing;
            fanout.References++;
        }

        var reader = new FanoutReader(this, fanout, log, position);
        try
        {
            if (created)
            {
                await fanout.StartAsync(log, position, active, cancellationToken);
            }

            if (!await fanout.Started)
            {
                await reader.ReadAloneFromStartAsync("shared_failed", cancellationToken);
            }
            else if (!fanout.TryAttach(reader, position, active))
            {
                await reader.ReadAloneFromStartAsync("start", cancellationToken);
            }

            return reader;
        }
        catch
        {
            await reader.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops every log's shared reader.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        List<LogFanout> live;
        List<Task> closing;
        lock (_gate)
        {
            live = [.. _live];
            closing = [.. _closing];
            _live.Clear();
            _logs.Clear();
        }

        foreach (var fanout in live)
        {
            await fanout.DisposeAsync();
        }

        await Task.WhenAll(closing);
        _stop.Dispose();
    }

    /// <summary>A reader left: the fan-out is closed after the linger when no reader came back meanwhile.</summary>
    internal void Release(LogFanout fanout)
    {
        lock (_gate)
        {
            if (--fanout.References > 0)
            {
                return;
            }

            if (fanout.Retired)
            {
                CloseLocked(fanout);
                return;
            }

            _closing.RemoveAll(static t => t.IsCompleted);
            _closing.Add(LingerAsync(fanout));
        }
    }

    internal void CountEntries(bool shared, long entries)
    {
        if (entries <= 0)
        {
            return;
        }

        Interlocked.Add(ref shared ? ref _entriesShared : ref _entriesAlone, entries);
        _metrics.ReadEntries(shared ? "shared" : "alone", entries);
    }

    internal void CountRecords(bool fromCache, int records)
    {
        Interlocked.Add(ref fromCache ? ref _recordsFromCache : ref _recordsAlone, records);
        _metrics.ReadRecords(fromCache ? "cache" : "alone", records);
    }

    internal void ReadingAlone(string reason)
    {
        Interlocked.Increment(ref _readsAlone);
        if (reason == "behind")
        {
            Interlocked.Increment(ref _fellBehind);
        }

        _metrics.ReadAlone(reason);
        LogReadingAlone(reason);
    }

    internal void Rejoined()
    {
        Interlocked.Increment(ref _rejoins);
        _metrics.ReadRejoined();
    }

    internal void SharedReaderFailed(string log, Exception e) => LogSharedReaderFailed(log, e.Message);

    private async Task LingerAsync(LogFanout fanout)
    {
        try
        {
            await Task.Delay(_linger, _time, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            return; // disposing: every fan-out is closed there
        }

        lock (_gate)
        {
            if (fanout.References > 0 || fanout.Retired)
            {
                return;
            }

            RetireLocked(fanout);
            CloseLocked(fanout);
        }
    }

    private void RetireLocked(LogFanout fanout)
    {
        fanout.Retired = true;
        if (_logs.TryGetValue(fanout.Name, out var current) && ReferenceEquals(current, fanout))
        {
            _logs.Remove(fanout.Name);
        }

        if (fanout.References == 0)
        {
            CloseLocked(fanout);
        }
    }

    private void CloseLocked(LogFanout fanout)
    {
        if (_live.Remove(fanout))
        {
            _closing.Add(fanout.DisposeAsync().AsTask());
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A reader reads alone ({Reason}): it is not within its log's shared read cache")]
    private partial void LogReadingAlone(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "The shared reader of log {Log} failed ({Error}); its readers read alone")]
    private partial void LogSharedReaderFailed(string log, string error);
}

/// <summary>Counts of a proxy's read fan-out.</summary>
/// <param name="EntriesShared">Entries the shared readers fetched from the bookies.</param>
/// <param name="EntriesAlone">Entries readers reading alone fetched from the bookies.</param>
/// <param name="RecordsFromCache">Records given to read calls from the shared caches.</param>
/// <param name="RecordsAlone">Records given to read calls by readers reading alone.</param>
/// <param name="ReadsAlone">Times a read call started reading alone (at its start, or after falling behind).</param>
/// <param name="FellBehind">Times an attached reader fell out of the cache window (its next record was evicted).</param>
/// <param name="Rejoins">Times a reader reading alone caught up and attached to the cache again.</param>
/// <param name="SharedLogs">Logs with a fan-out now.</param>
internal readonly record struct ReadFanoutStats(
    long EntriesShared, long EntriesAlone, long RecordsFromCache, long RecordsAlone, long ReadsAlone, long FellBehind, long Rejoins, int SharedLogs)
{
    /// <summary>Entries fetched from the bookies by all readers.</summary>
    public long EntriesFromBookies => EntriesShared + EntriesAlone;
}
