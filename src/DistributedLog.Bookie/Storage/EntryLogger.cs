using System.Collections.Concurrent;
using DistributedLog.Bookie.IO;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// The set of entry-log files of one ledger directory: the one being written (appends, rolling at the size limit),
/// the read handles of all of them, and per log how many bytes each ledger holds in it (for garbage collection).
/// Appending, syncing, rolling and deleting are for the holder of the storage's flush gate; reads are thread-safe.
/// </summary>
internal sealed class EntryLogger : IDisposable
{
    private readonly string _directory;
    private readonly LedgerStorageOptions _options;
    private readonly IFileFaultInjector _faults;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Dictionary<long, EntryLogInfo> _logs = [];
    private readonly ConcurrentDictionary<long, DurableFile> _readers = new();
    private readonly byte[] _writeBuffer;
    private EntryLogWriter? _current;
    private long _currentId = -1;
    private long _nextId;

    /// <param name="directory">The <c>entrylogs</c> directory.</param>
    /// <param name="options">Storage options.</param>
    /// <param name="logger">Where to log.</param>
    /// <param name="ledgerMaps">Per log, bytes per ledger, as persisted in the index.</param>
    /// <param name="lastLogIdInIndex">The highest log id the index remembers creating (-1 if none).</param>
    public EntryLogger(string directory, LedgerStorageOptions options, ILogger logger,
        Dictionary<long, Dictionary<long, long>> ledgerMaps, long lastLogIdInIndex)
    {
        _directory = directory;
        _options = options;
        _faults = options.FaultInjector ?? NoFaults.Instance;
        _logger = logger;
        _writeBuffer = GC.AllocateUninitializedArray<byte>(options.EntryLogWriteBufferSize);
        long highest = Math.Max(lastLogIdInIndex, 0);
        foreach (string path in System.IO.Directory.EnumerateFiles(directory))
        {
            if (!EntryLogFormat.TryParseFileName(Path.GetFileName(path), out long id))
            {
                continue;
            }

            var info = new EntryLogInfo(id, path) { Size = new FileInfo(path).Length };
            if (ledgerMaps.Remove(id, out Dictionary<long, long>? map))
            {
                info.LedgerBytes = map;
                string? problem = CheckHeader(path, id);
                if (problem is not null)
                {
                    // Entries are still checked one by one when read; this only tells the operator early.
                    _logger.LogError("Entry log {LogId:x16} has a damaged header ({Problem}); reads of its entries verify each checksum.", id, problem);
                }
            }

            _logs[id] = info;
            highest = Math.Max(highest, id);
        }

        foreach ((long id, Dictionary<long, long> map) in ledgerMaps)
        {
            _logger.LogError("Entry log {LogId:x16} holds {Ledgers} ledgers according to the index but its file is missing from {Directory}; their entries are lost on this bookie.",
                id, map.Count, directory);
            highest = Math.Max(highest, id);
        }

        _nextId = highest + 1;
    }

    /// <summary>The id of the log being written, or -1 when none is open (a new one starts at the next append).</summary>
    public long CurrentLogId => Volatile.Read(ref _currentId);

    /// <summary>The highest log id ever created here.</summary>
    public long HighestId => _nextId - 1;

    /// <summary>Appends an entry to the current log (starting or rolling a log as needed) and returns its location.</summary>
    public EntryLocation Append(ReadOnlySpan<byte> entry)
    {
        long record = EntryLogFormat.RecordHeaderSize + entry.Length;
        if (_current is not null && _current.Position > EntryLogFormat.HeaderSize
            && _current.Position + record > _options.EntryLogSizeLimit)
        {
            Roll();
        }

        EntryLogWriter writer = _current ?? StartNewLog();
        long offset = writer.Append(entry);
        SetSize(writer.Id, writer.Position);
        return new EntryLocation(writer.Id, offset, entry.Length);
    }

    /// <summary>Writes out and syncs the current log, making every location returned so far durable.</summary>
    public void SyncCurrent()
    {
        if (_current is null)
        {
            return;
        }

        _current.Sync();
        SetSize(_current.Id, _current.Position);
    }

    /// <summary>
    /// Stops writing the current log after a failed write or sync: its tail is unknown, so the next append starts a new
    /// log. The file stays readable (it may hold entries indexed by earlier flushes).
    /// </summary>
    public void AbandonCurrent()
    {
        EntryLogWriter? writer = _current;
        if (writer is null)
        {
            return;
        }

        _current = null;
        Volatile.Write(ref _currentId, -1);
        try
        {
            SetSize(writer.Id, writer.File.Length);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Keep the last known size.
        }

        _logger.LogWarning("Stopped writing entry log {LogId:x16} after an I/O error; the next flush starts a new entry log.", writer.Id);
        bool indexed;
        lock (_lock)
        {
            indexed = _logs.TryGetValue(writer.Id, out EntryLogInfo? info) && info.LedgerBytes.Count > 0;
        }

        if (!indexed)
        {
            // Nothing refers to it: remove it now rather than leave one more file per failed attempt for GC.
            try
            {
                Delete(writer.Id);
            }
            catch (IOException e)
            {
                _logger.LogWarning(e, "Could not delete the unused entry log {LogId:x16}; garbage collection will retry.", writer.Id);
            }
        }
    }

    /// <summary>Bytes the ledger holds in the log according to the persisted maps (0 if none).</summary>
    public long LedgerBytes(long logId, long ledgerId)
    {
        lock (_lock)
        {
            return _logs.TryGetValue(logId, out EntryLogInfo? info) && info.LedgerBytes.TryGetValue(ledgerId, out long bytes) ? bytes : 0;
        }
    }

    /// <summary>Adds bytes per (log, ledger) after they were persisted in the index.</summary>
    public void AddLedgerBytes(Dictionary<(long LogId, long LedgerId), long> deltas)
    {
        lock (_lock)
        {
            foreach (((long logId, long ledgerId), long delta) in deltas)
            {
                if (_logs.TryGetValue(logId, out EntryLogInfo? info))
                {
                    info.LedgerBytes[ledgerId] = info.LedgerBytes.GetValueOrDefault(ledgerId) + delta;
                }
            }
        }
    }

    /// <summary>The ledgers with bytes in the log.</summary>
    public List<long> LedgersIn(long logId)
    {
        lock (_lock)
        {
            return _logs.TryGetValue(logId, out EntryLogInfo? info) ? [.. info.LedgerBytes.Keys] : [];
        }
    }

    /// <summary>Usage of every log except the one being written, counting only ledgers for which <paramref name="isLive"/> holds.</summary>
    public List<EntryLogUsage> Usage(Func<long, bool> isLive)
    {
        long current = CurrentLogId;
        var result = new List<EntryLogUsage>();
        lock (_lock)
        {
            foreach (EntryLogInfo info in _logs.Values)
            {
                if (info.Id == current)
                {
                    continue;
                }

                long live = 0;
                foreach ((long ledgerId, long bytes) in info.LedgerBytes)
                {
                    if (isLive(ledgerId))
                    {
                        live += bytes;
                    }
                }

                result.Add(new EntryLogUsage(info.Id, info.Size, live));
            }
        }

        return result;
    }

    /// <summary>Reads at a position of a log. Throws <see cref="EntryLogMissingException"/> if the log is gone (deleted or compacted).</summary>
    public int Read(long logId, long offset, Span<byte> destination)
    {
        DurableFile file = GetReader(logId);
        try
        {
            return file.Read(offset, destination);
        }
        catch (ObjectDisposedException e)
        {
            throw new EntryLogMissingException(logId, e);
        }
    }

    /// <summary>Deletes a log that is not being written; returns its size.</summary>
    public long Delete(long logId)
    {
        if (logId == CurrentLogId)
        {
            throw new InvalidOperationException($"Entry log {logId:x16} is being written and cannot be deleted.");
        }

        EntryLogInfo? info;
        lock (_lock)
        {
            if (!_logs.Remove(logId, out info))
            {
                return 0;
            }
        }

        if (_readers.TryRemove(logId, out DurableFile? file))
        {
            file.Dispose();
        }

        File.Delete(info.Path);
        DurableFile.SyncDirectory(_directory);
        return info.Size;
    }

    /// <summary>Number of logs and their bytes.</summary>
    public (int Count, long Bytes) Totals()
    {
        lock (_lock)
        {
            long bytes = 0;
            foreach (EntryLogInfo info in _logs.Values)
            {
                bytes += info.Size;
            }

            return (_logs.Count, bytes);
        }
    }

    /// <summary>The ids of all logs.</summary>
    public List<long> Ids()
    {
        lock (_lock)
        {
            return [.. _logs.Keys];
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _current = null;
        foreach (DurableFile file in _readers.Values)
        {
            file.Dispose();
        }

        _readers.Clear();
    }

    private static string? CheckHeader(string path, long id)
    {
        Span<byte> header = stackalloc byte[EntryLogFormat.HeaderSize];
        using FileStream stream = File.OpenRead(path);
        int read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        return EntryLogFormat.ValidateHeader(header[..read], id);
    }

    private EntryLogWriter StartNewLog()
    {
        long id = _nextId++;
        string path = Path.Combine(_directory, EntryLogFormat.FileName(id));
        DurableFile file = DurableFile.Create(path, _options.PreallocationBytes, zeroFill: false, _faults);
        var writer = new EntryLogWriter(id, file, _writeBuffer);
        lock (_lock)
        {
            _logs[id] = new EntryLogInfo(id, path) { Size = writer.Position };
        }

        _readers[id] = file;
        _current = writer;
        Volatile.Write(ref _currentId, id);
        _logger.LogDebug("Started entry log {LogId:x16}.", id);
        return writer;
    }

    private void Roll()
    {
        EntryLogWriter writer = _current!;
        writer.Sync();
        SetSize(writer.Id, writer.Position);
        _current = null;
        Volatile.Write(ref _currentId, -1);
        _logger.LogDebug("Rolled entry log {LogId:x16} at {Bytes} bytes.", writer.Id, writer.Position);
    }

    private void SetSize(long logId, long size)
    {
        lock (_lock)
        {
            if (_logs.TryGetValue(logId, out EntryLogInfo? info))
            {
                info.Size = size;
            }
        }
    }

    private DurableFile GetReader(long logId)
    {
        if (_readers.TryGetValue(logId, out DurableFile? file))
        {
            return file;
        }

        lock (_lock)
        {
            if (_readers.TryGetValue(logId, out file))
            {
                return file;
            }

            if (!_logs.TryGetValue(logId, out EntryLogInfo? info))
            {
                throw new EntryLogMissingException(logId, null);
            }

            try
            {
                file = DurableFile.OpenExisting(info.Path, _faults, writable: false);
            }
            catch (FileNotFoundException e)
            {
                throw new EntryLogMissingException(logId, e);
            }

            _readers[logId] = file;
            return file;
        }
    }

    private sealed class EntryLogInfo(long id, string path)
    {
        public long Id { get; } = id;

        public string Path { get; } = path;

        public long Size { get; set; }

        public Dictionary<long, long> LedgerBytes { get; set; } = [];
    }
}

/// <summary>How much of an entry log is live.</summary>
/// <param name="Id">The log id.</param>
/// <param name="Size">File bytes (header included).</param>
/// <param name="LiveBytes">Record bytes of live ledgers.</param>
internal readonly record struct EntryLogUsage(long Id, long Size, long LiveBytes)
{
    /// <summary>Share of the record bytes that are live.</summary>
    public double LiveRatio => Size <= EntryLogFormat.HeaderSize ? 0 : (double)LiveBytes / (Size - EntryLogFormat.HeaderSize);
}

/// <summary>An entry log referenced by a location is gone (compacted or deleted meanwhile); the reader looks the entry up again.</summary>
internal sealed class EntryLogMissingException(long logId, Exception? inner)
    : IOException($"Entry log {logId:x16} does not exist (any more).", inner)
{
    public long LogId { get; } = logId;
}
