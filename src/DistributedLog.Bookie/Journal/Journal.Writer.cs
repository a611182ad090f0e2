using System.Diagnostics;
using DistributedLog.Bookie.IO;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Journal;

public sealed partial class Journal
{
    private DurableFile? _current;
    private long _currentFileId;
    private long _currentOffset;
    private DurableFile? _nextFile;
    private Task? _preparing;
    private long _nextFileId;
    private long _batches;
    private readonly object _recycleGate = new();
    private const string FreeSuffix = ".free";

    /// <summary>Group-commit batches written so far.</summary>
    public long BatchCount => Interlocked.Read(ref _batches);

    /// <summary>Starts the writer thread; appends go to a new journal file after the ones replayed.</summary>
    public void Start()
    {
        if (_writerThread is not null)
        {
            throw new InvalidOperationException("The journal is already started.");
        }

        if (_nextFileId == 0)
        {
            _nextFileId = ListFiles().Select(f => f.FileId).DefaultIfEmpty(0).Max() + 1;
        }

        _current = CreateFile(_nextFileId);
        _currentFileId = _nextFileId;
        _currentOffset = JournalFormat.FileHeaderSize;
        _nextFileId++;
        LastSyncedMark = new LogMark(_currentFileId, _currentOffset);
        PrepareNextFile();
        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "bookie-journal" };
        _writerThread.Start();
    }

    /// <summary>
    /// Retires journal files whose every record is before <paramref name="checkpoint"/> (ledger storage holds them). Up to
    /// <see cref="JournalOptions.RecycleFiles"/> of them are kept as free files and reused for later journal files (their
    /// blocks are already allocated, so no zero-filling and no metadata updates); the rest are deleted.
    /// </summary>
    /// <returns>How many files were retired.</returns>
    public int RemoveFilesBefore(LogMark checkpoint)
    {
        int removed = 0;
        foreach (var (fileId, path) in ListFiles())
        {
            if (fileId >= checkpoint.FileId || fileId == Volatile.Read(ref _currentFileId))
            {
                continue;
            }

            lock (_recycleGate)
            {
                if (FreeFiles().Count < _options.RecycleFiles && new FileInfo(path).Length == _options.FileSize)
                {
                    File.Move(path, path + FreeSuffix);
                }
                else
                {
                    File.Delete(path);
                }
            }

            removed++;
        }

        if (removed > 0)
        {
            DurableFile.SyncDirectory(_options.Directory);
            _logger.LogDebug("Retired {Count} journal files before checkpoint {Mark}", removed, checkpoint);
        }

        return removed;
    }

    private void WriterLoop()
    {
        while (true)
        {
            Batch batch;
            lock (_gate)
            {
                while (_filling.Length == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                if (_filling.Length == 0)
                {
                    return;
                }

                batch = _filling;
                _filling = _spare;
                _spare = batch;
                // Wake appenders that found the batch full (allocated only when someone waits).
                _space?.TrySetResult();
                _space = null;
            }

            Exception? error = null;
            try
            {
                WriteBatch(batch);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = e;
                Fail(e);
            }

            foreach (var completion in batch.Completions)
            {
                completion.Target.OnJournalComplete(completion, error);
            }

            batch.Clear();
            if (error is not null)
            {
                FailQueued(error);
                return;
            }
        }
    }

    private void WriteBatch(Batch batch)
    {
        long start = Stopwatch.GetTimestamp();
        if (_currentOffset + batch.Length > _options.FileSize)
        {
            Roll();
        }

        Span<byte> bytes = batch.Written;
        for (int pos = 0; pos < bytes.Length;)
        {
            JournalFormat.Seal(bytes[pos..], _currentFileId);
            pos += JournalFormat.RecordHeaderSize + System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes[pos..]);
        }

        _current!.Write(_currentOffset, bytes);
        long written = Stopwatch.GetTimestamp();
        if (_options.SyncData)
        {
            _current.Sync();
        }

        _currentOffset += bytes.Length;
        Interlocked.Increment(ref _batches);
        LastSyncedMark = new LogMark(_currentFileId, _currentOffset);
        _metrics?.RecordJournalBatch(batch.RecordCount, bytes.Length, Stopwatch.GetElapsedTime(written), Stopwatch.GetElapsedTime(start));
    }

    private void Roll()
    {
        DurableFile next;
        try
        {
            _preparing?.GetAwaiter().GetResult();
            next = _nextFile ?? CreateFile(_nextFileId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _nextFile = null;
            _preparing = null;
            _logger.LogWarning(e, "Preparing journal file {FileId:x16} failed; trying once more", _nextFileId);
            TryDelete(Path.Combine(_options.Directory, JournalFormat.FileName(_nextFileId)));
            next = CreateFile(_nextFileId);
        }

        _current!.Dispose();
        _current = next;
        _currentFileId = _nextFileId;
        _currentOffset = JournalFormat.FileHeaderSize;
        _nextFileId++;
        _nextFile = null;
        PrepareNextFile();
        _logger.LogDebug("Rolled the journal to file {FileId:x16}", _currentFileId);
    }

    /// <summary>
    /// Starts a failed journal again on a fresh file, after the cause went away (the disk had no space left). Safe because
    /// every record of the failed batch and every record queued after it was answered with the error: nothing that was
    /// acknowledged is in doubt. The fresh file comes after the old ones, so a replay reads the old file up to its last
    /// good record (cutting a partial tail there) and then the fresh one.
    /// </summary>
    /// <exception cref="InvalidOperationException">The journal did not fail, or is stopping.</exception>
    /// <exception cref="IOException">The fresh file could not be created (still no space): the journal stays failed.</exception>
    public void Restart()
    {
        lock (_gate)
        {
            if (_failure is null || _stopping)
            {
                throw new InvalidOperationException("Only a failed, running journal can be restarted.");
            }
        }

        _writerThread?.Join();
        try
        {
            _preparing?.Wait();
        }
        catch (AggregateException)
        {
            // The next file could not be prepared (likely for the same reason); it is made afresh below.
        }

        _preparing = null;
        if (_nextFile is not null)
        {
            string stale = _nextFile.Path;
            _nextFile.Dispose();
            _nextFile = null;
            TryDelete(stale);
        }

        // Never reuse the failed file's id: its tail may hold part of the failed batch. A file under the next id is what
        // a failed preallocation left behind; it never held a record.
        TryDelete(Path.Combine(_options.Directory, JournalFormat.FileName(_nextFileId)));
        var fresh = CreateFile(_nextFileId);
        _current?.Dispose();
        _current = fresh;
        _currentFileId = _nextFileId;
        _currentOffset = JournalFormat.FileHeaderSize;
        _nextFileId++;
        LastSyncedMark = new LogMark(_currentFileId, _currentOffset);
        PrepareNextFile();
        lock (_gate)
        {
            _failure = null;
        }

        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "bookie-journal" };
        _writerThread.Start();
        _logger.LogWarning("The journal restarted on the fresh file {FileId:x16} after its failure", _currentFileId);
    }

    private void PrepareNextFile()
    {
        long id = _nextFileId;
        _preparing = Task.Run(() => _nextFile = CreateFile(id));
    }

    private List<string> FreeFiles() => [.. Directory.EnumerateFiles(_options.Directory, "*" + FreeSuffix)];

    private DurableFile CreateFile(long fileId)
    {
        string path = Path.Combine(_options.Directory, JournalFormat.FileName(fileId));
        DurableFile? file = null;
        long recycledFrom = 0;
        lock (_recycleGate)
        {
            var free = FreeFiles();
            if (free.Count > 0)
            {
                // A recycled file still holds old records; they carry another file's checksum seed, so replay stops at them.
                // The header names the old file, so replay reports that end as such and not as a torn tail.
                string name = Path.GetFileName(free[0]);
                if (!JournalFormat.TryParseFileName(name[..^FreeSuffix.Length], out recycledFrom))
                {
                    recycledFrom = 0;
                }

                File.Move(free[0], path);
                file = DurableFile.OpenExisting(path, _options.Faults);
            }
        }

        if (file is not null)
        {
            DurableFile.SyncDirectory(_options.Directory);
        }

        file ??= DurableFile.Create(path, _options.FileSize, _options.ZeroFill, _options.Faults);
        try
        {
            Span<byte> header = stackalloc byte[JournalFormat.FileHeaderSize];
            JournalFormat.WriteFileHeader(header, fileId, recycledFrom);
            file.Write(0, header);
            file.Sync();
            return file;
        }
        catch
        {
            file.Dispose();
            TryDelete(path);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    private void Fail(Exception e)
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = e;
            _space?.TrySetResult();
        }

        if (DiskErrors.IsOutOfSpace(e))
        {
            _logger.LogError("Journal write failed, the disk is full ({Error}); the journal stops accepting records until space returns", e.Message);
        }
        else
        {
            _logger.LogError(e, "Journal write failed; the journal stops accepting records");
        }
        Failed?.Invoke(e);
    }

    private void FailQueued(Exception error)
    {
        Batch leftover;
        lock (_gate)
        {
            leftover = _filling;
            _filling = new Batch();
        }

        foreach (var completion in leftover.Completions)
        {
            completion.Target.OnJournalComplete(completion, error);
        }

        leftover.Release();
    }

    private IEnumerable<(long FileId, string Path)> ListFiles()
    {
        var files = new List<(long, string)>();
        foreach (string path in Directory.EnumerateFiles(_options.Directory, "*.jnl"))
        {
            if (JournalFormat.TryParseFileName(Path.GetFileName(path), out long id))
            {
                files.Add((id, path));
            }
        }

        files.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return files;
    }
}
