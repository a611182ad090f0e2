using System.Collections.Concurrent;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Wire;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Tests.Journal;

/// <summary>
/// Replay tells the end of a recycled file's records (stale bytes of the retired file follow) from a real torn tail: the
/// first is the normal end after a clean restart and is no warning (issue 9 saw "declares 601991818 bytes; cutting the
/// torn tail" on every clean restart); the second is.
/// </summary>
public sealed class JournalRecycledTailTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dl-journal-recycled-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JournalOptions Options() => new() { Directory = _dir, FileSize = 3 << 20, MaxBatchBytes = 2 << 20, Faults = NoFaults.Instance };

    private static byte[] Entry(long entry, int size)
    {
        byte[] payload = new byte[size];
        new Random((int)entry).NextBytes(payload);
        byte[] packaged = new byte[PackagedEntry.SizeOf(size)];
        PackagedEntry.Write(packaged, 1, entry, entry - 1, 0, payload);
        return packaged;
    }

    /// <summary>Writes entries, retires the files (they become free files), writes fewer, smaller entries into recycled
    /// files and closes cleanly; returns the checkpoint to replay from and the entries after it.</summary>
    private async Task<(LogMark Mark, List<byte[]> After)> WriteIntoRecycledFilesAsync()
    {
        var first = Enumerable.Range(0, 40).Select(i => Entry(i, 256 << 10)).ToList();
        // Odd sizes, so the recycled file's data ends in the middle of an old record (an impossible length follows).
        var after = Enumerable.Range(40, 7).Select(i => Entry(i, (100 << 10) + 13)).ToList();
        var callback = new Recorder();
        LogMark mark;
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        int count = 0;
        foreach (var entry in first)
        {
            journal.TryAppendAddEntry(entry, new JournalCompletion(callback, 0, 1, count, 0));
            await callback.WaitForAsync(++count);
        }

        mark = journal.LastSyncedMark;
        journal.RemoveFilesBefore(mark);
        Assert.NotEmpty(Directory.GetFiles(_dir, "*.free"));
        // Roll twice: the file prepared before the retirement is a fresh one; the one prepared after it is recycled.
        long start = journal.LastSyncedMark.FileId;
        while (journal.LastSyncedMark.FileId < start + 2)
        {
            journal.TryAppendAddEntry(Entry(count, 256 << 10), new JournalCompletion(callback, 0, 1, count, 0));
            await callback.WaitForAsync(++count);
        }

        mark = journal.LastSyncedMark;
        foreach (var entry in after)
        {
            journal.TryAppendAddEntry(entry, new JournalCompletion(callback, 0, 1, count, 0));
            await callback.WaitForAsync(++count);
        }

        return (mark, after);
    }

    [Fact]
    public async Task The_end_of_a_recycled_files_records_is_not_reported_as_a_torn_tail()
    {
        var (mark, after) = await WriteIntoRecycledFilesAsync();
        string current = Path.Combine(_dir, JournalFormat.FileName(mark.FileId));
        Assert.NotEqual(0, RecycledFrom(current));

        var log = new ListLogger();
        var collector = new Collector();
        using var replayer = new DistributedLog.Bookie.Journal.Journal(Options(), log);
        var result = replayer.Replay(mark, collector);
        Assert.Equal(0, result.TornTails);
        Assert.Equal(after, collector.Records.Select(r => r.Body));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Debug && e.Message.Contains("stale", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_torn_record_in_a_recycled_file_is_still_a_warned_torn_tail()
    {
        var (mark, after) = await WriteIntoRecycledFilesAsync();
        string current = Path.Combine(_dir, JournalFormat.FileName(mark.FileId));
        // Damage the body of the third record written after the mark, as a write torn by a crash would.
        long third = mark.Offset + 2L * (JournalFormat.RecordHeaderSize + 1 + after[0].Length);
        using (var stream = new FileStream(current, FileMode.Open))
        {
            stream.Position = third + JournalFormat.RecordHeaderSize + 100;
            int b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x10));
        }

        var log = new ListLogger();
        var collector = new Collector();
        using var replayer = new DistributedLog.Bookie.Journal.Journal(Options(), log);
        var result = replayer.Replay(mark, collector);
        Assert.Equal(1, result.TornTails);
        Assert.Equal(after.Take(2), collector.Records.Select(r => r.Body));
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("torn tail", StringComparison.Ordinal));
    }

    private static long RecycledFrom(string path)
    {
        byte[] header = new byte[JournalFormat.FileHeaderSize];
        using var stream = File.OpenRead(path);
        stream.ReadExactly(header);
        return JournalFormat.RecycledFrom(header);
    }

    private sealed class ListLogger : ILogger<DistributedLog.Bookie.Journal.Journal>
    {
        public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((logLevel, formatter(state, exception)));
    }

    private sealed class Collector : IJournalReplayVisitor
    {
        public List<(JournalRecordType Type, byte[] Body)> Records { get; } = [];

        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body) => Records.Add((type, body.ToArray()));
    }

    private sealed class Recorder : IJournalCallback
    {
        private int _count;

        public void OnJournalComplete(in JournalCompletion completion, Exception? error)
        {
            Assert.Null(error);
            Interlocked.Increment(ref _count);
        }

        public async Task WaitForAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Volatile.Read(ref _count) < count)
            {
                Assert.True(DateTime.UtcNow < deadline, "journal completions timed out");
                await Task.Delay(1);
            }
        }
    }
}
