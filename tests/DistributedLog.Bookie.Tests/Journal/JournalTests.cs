using System.Buffers.Binary;
using System.Collections.Concurrent;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using DistributedLog.Testing;
using DistributedLog.Bookie.Wire;

namespace DistributedLog.Bookie.Tests.Journal;

public sealed class JournalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dl-journal-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JournalOptions Options(IFileFaultInjector? faults = null, long fileSize = 4 << 20) =>
        new() { Directory = _dir, FileSize = fileSize, MaxBatchBytes = 2 << 20, Faults = faults ?? NoFaults.Instance };

    private static byte[] Entry(long ledger, long entry, int size, int seed)
    {
        byte[] payload = new byte[size];
        new Random(seed).NextBytes(payload);
        byte[] packaged = new byte[PackagedEntry.SizeOf(size)];
        PackagedEntry.Write(packaged, ledger, entry, entry - 1, 0, payload);
        return packaged;
    }

    [Fact]
    public async Task Appended_records_are_acknowledged_and_replayed_in_order()
    {
        var callback = new Recorder();
        var entries = Enumerable.Range(0, 500).Select(i => Entry(7, i, 10 + i, i)).ToList();
        using (var journal = new DistributedLog.Bookie.Journal.Journal(Options()))
        {
            journal.Replay(LogMark.Zero, new Collector());
            journal.Start();
            Assert.Equal(JournalAppendResult.Queued, journal.TryAppendMasterKey(7, [1, 2, 3]));
            for (int i = 0; i < entries.Count; i++)
            {
                Assert.Equal(JournalAppendResult.Queued, journal.TryAppendAddEntry(entries[i], new JournalCompletion(callback, (ulong)i, 7, i, 0)));
            }

            Assert.Equal(JournalAppendResult.Queued, journal.TryAppendFence(7, new JournalCompletion(callback, 999, 7, -1, 0)));
            await callback.WaitForAsync(entries.Count + 1);
            Assert.All(callback.Results, r => Assert.Null(r.Error));
        }

        var collector = new Collector();
        using var reopened = new DistributedLog.Bookie.Journal.Journal(Options());
        var result = reopened.Replay(LogMark.Zero, collector);
        Assert.Equal(entries.Count + 2, result.Records);
        Assert.Equal(0, result.TornTails);
        Assert.Equal(JournalRecordType.MasterKey, collector.Records[0].Type);
        Assert.Equal(JournalRecordType.Fence, collector.Records[^1].Type);
        var adds = collector.Records.Where(r => r.Type == JournalRecordType.AddEntry).Select(r => r.Body).ToList();
        Assert.Equal(entries.Count, adds.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            Assert.Equal(entries[i], adds[i]);
        }
    }

    [Fact]
    public async Task Concurrent_appenders_share_group_commit_batches()
    {
        var callback = new Recorder();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        const int threads = 8, perThread = 300;
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < perThread; i++)
            {
                while (journal.TryAppendAddEntry(Entry(t, i, 100, i), new JournalCompletion(callback, (ulong)i, t, i, 0)) != JournalAppendResult.Queued)
                {
                    journal.WaitForSpaceAsync(CancellationToken.None).Wait();
                }
            }
        })));
        await callback.WaitForAsync(threads * perThread);
        Assert.All(callback.Results, r => Assert.Null(r.Error));
        Assert.True(journal.BatchCount < threads * perThread, $"expected fewer fsync batches than records, got {journal.BatchCount}");
    }

    [Fact]
    public async Task Journal_rolls_files_and_removes_those_before_a_checkpoint()
    {
        var callback = new Recorder();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options(fileSize: 3 << 20));
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        int count = 0;
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(JournalAppendResult.Queued, journal.TryAppendAddEntry(Entry(1, i, 256 << 10, i), new JournalCompletion(callback, (ulong)i, 1, i, 0)));
            count++;
            await callback.WaitForAsync(count);
        }

        int files = Directory.GetFiles(_dir, "*.jnl").Length;
        Assert.True(files >= 4, $"expected several journal files, found {files}");
        var mark = journal.LastSyncedMark;
        Assert.True(journal.RemoveFilesBefore(mark) >= 2);
        var collector = new Collector();
        using var replayer = new DistributedLog.Bookie.Journal.Journal(Options(fileSize: 3 << 20));
        Assert.Equal(0, replayer.Replay(mark, collector).Records);
    }

    [Fact]
    public async Task Retired_files_are_recycled_and_their_old_records_never_replay()
    {
        var callback = new Recorder();
        var first = Enumerable.Range(0, 40).Select(i => Entry(1, i, 256 << 10, i)).ToList();
        var second = Enumerable.Range(40, 40).Select(i => Entry(1, i, 256 << 10, i)).ToList();
        LogMark mark;
        using (var journal = new DistributedLog.Bookie.Journal.Journal(Options(fileSize: 3 << 20)))
        {
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
            int free = Directory.GetFiles(_dir, "*.free").Length;
            Assert.True(free >= 2, $"expected retired files kept for reuse, found {free}");
            foreach (var entry in second)
            {
                journal.TryAppendAddEntry(entry, new JournalCompletion(callback, 0, 1, count, 0));
                await callback.WaitForAsync(++count);
            }

            Assert.True(Directory.GetFiles(_dir, "*.free").Length < free, "no free file was reused");
        }

        var collector = new Collector();
        using var replayer = new DistributedLog.Bookie.Journal.Journal(Options(fileSize: 3 << 20));
        replayer.Replay(mark, collector);
        Assert.Equal(second.Count, collector.Records.Count);
        for (int i = 0; i < second.Count; i++)
        {
            Assert.Equal(second[i], collector.Records[i].Body);
        }
    }

    [Fact]
    public void Torn_tail_is_cut_and_earlier_records_survive()
    {
        var entries = Enumerable.Range(0, 20).Select(i => Entry(3, i, 1000, i)).ToList();
        WriteAndClose(entries);
        string file = Directory.GetFiles(_dir, "*.jnl").Order().First();
        // Corrupt one byte inside the last record's body: its checksum fails, so it is a torn tail.
        long lastRecordOffset = JournalFormat.FileHeaderSize + 19L * (JournalFormat.RecordHeaderSize + 1 + entries[0].Length);
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.Position = lastRecordOffset + JournalFormat.RecordHeaderSize + 50;
            int b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x40));
        }

        var collector = new Collector();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        var result = journal.Replay(LogMark.Zero, collector);
        Assert.Equal(1, result.TornTails);
        Assert.Equal(19, collector.Records.Count);
        for (int i = 0; i < 19; i++)
        {
            Assert.Equal(entries[i], collector.Records[i].Body);
        }
    }

    [Fact]
    public void Half_written_record_is_cut()
    {
        var entries = Enumerable.Range(0, 5).Select(i => Entry(3, i, 1000, i)).ToList();
        WriteAndClose(entries);
        string file = Directory.GetFiles(_dir, "*.jnl").Order().First();
        // Zero the second half of the last record, as if the machine died mid-write.
        long recordSize = JournalFormat.RecordHeaderSize + 1 + entries[0].Length;
        long lastRecordOffset = JournalFormat.FileHeaderSize + 4 * recordSize;
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.Position = lastRecordOffset + recordSize / 2;
            stream.Write(new byte[recordSize]);
        }

        var collector = new Collector();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        var result = journal.Replay(LogMark.Zero, collector);
        Assert.Equal(4, collector.Records.Count);
        Assert.Equal(1, result.TornTails);
    }

    [Fact]
    public async Task Sync_failure_fails_the_batch_and_stops_the_journal()
    {
        var faults = new SwitchableFaults();
        var callback = new Recorder();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options(faults));
        Exception? failed = null;
        journal.Failed += e => failed = e;
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        Assert.Equal(JournalAppendResult.Queued, journal.TryAppendAddEntry(Entry(1, 0, 10, 0), new JournalCompletion(callback, 0, 1, 0, 0)));
        await callback.WaitForAsync(1);
        faults.FailSync = true;
        Assert.Equal(JournalAppendResult.Queued, journal.TryAppendAddEntry(Entry(1, 1, 10, 1), new JournalCompletion(callback, 1, 1, 1, 0)));
        await callback.WaitForAsync(2);
        Assert.Null(callback.Results.Single(r => r.Completion.EntryId == 0).Error);
        Assert.IsType<IOException>(callback.Results.Single(r => r.Completion.EntryId == 1).Error);
        Assert.NotNull(journal.Failure);
        Assert.NotNull(failed);
        Assert.Equal(JournalAppendResult.Failed, journal.TryAppendAddEntry(Entry(1, 2, 10, 2), new JournalCompletion(callback, 2, 1, 2, 0)));
    }

    [Fact]
    public void Replay_refuses_a_checkpoint_whose_journal_file_is_missing()
    {
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        Assert.Throws<InvalidDataException>(() => journal.Replay(new LogMark(42, 512), new Collector()));
    }

    private void WriteAndClose(List<byte[]> entries)
    {
        var callback = new Recorder();
        using var journal = new DistributedLog.Bookie.Journal.Journal(Options());
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        foreach (var (entry, i) in entries.Select((e, i) => (e, i)))
        {
            journal.TryAppendAddEntry(entry, new JournalCompletion(callback, (ulong)i, 3, i, 0));
            callback.WaitForAsync(i + 1).Wait();
        }
    }

    private sealed class Collector : IJournalReplayVisitor
    {
        public List<(JournalRecordType Type, byte[] Body)> Records { get; } = [];

        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body) => Records.Add((type, body.ToArray()));
    }

    private sealed class Recorder : IJournalCallback
    {
        private readonly ConcurrentQueue<(JournalCompletion Completion, Exception? Error)> _results = new();

        public IReadOnlyCollection<(JournalCompletion Completion, Exception? Error)> Results => _results;

        public void OnJournalComplete(in JournalCompletion completion, Exception? error) => _results.Enqueue((completion, error));

        public async Task WaitForAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (_results.Count < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {_results.Count} of {count} completions arrived");
                await Task.Delay(1);
            }
        }
    }
}
