using System.Collections.Concurrent;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using DistributedLog.Cli.Chaos.Cluster;

namespace DistributedLog.Cli.Tests.Chaos;

/// <summary>The storage faults of a chaos run on a real journal: a torn tail is cut by replay, the fault file fails writes with EIO.</summary>
public sealed class BookieFaultTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dl-chaos-journal-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task A_torn_tail_is_cut_by_replay_and_every_acknowledged_record_is_kept(int variant)
    {
        const int count = 40;
        var callback = new Recorder();
        using (var journal = new Journal(Options()))
        {
            journal.Replay(LogMark.Zero, new Collector());
            journal.Start();
            Assert.Equal(JournalAppendResult.Queued, journal.TryAppendMasterKey(1, [9, 8, 7, 6]));
            for (int i = 0; i < count; i++)
            {
                Assert.Equal(JournalAppendResult.Queued, journal.TryAppendFence(1000 + i, new JournalCompletion(callback, (ulong)i, 1000 + i, -1, 0)));
            }

            await callback.WaitForAsync(count);
            Assert.All(callback.Results, r => Assert.Null(r.Error));
        }

        string what = await JournalTail.TearAsync(_dir, variant);
        Assert.Contains("after its last whole record", what, StringComparison.Ordinal);

        var collector = new Collector();
        using var reopened = new Journal(Options());
        var result = reopened.Replay(LogMark.Zero, collector);
        Assert.Equal(1, result.TornTails);
        var fenced = collector.Records.Where(r => r.Type == JournalRecordType.Fence)
            .Select(r => JournalFormat.TryReadFence(r.Body, out long ledger) ? ledger : -1).ToList();
        Assert.Equal(Enumerable.Range(1000, count).Select(i => (long)i), fenced);
    }

    [Fact]
    public async Task Both_ways_of_tearing_are_drawn()
    {
        Directory.CreateDirectory(_dir);
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        var all = new List<string>();
        foreach (int variant in Enumerable.Range(1, 6))
        {
            // One record is enough to tell the two ways apart.
            var callback = new Recorder();
            using (var journal = new Journal(Options()))
            {
                journal.Replay(LogMark.Zero, new Collector());
                journal.Start();
                journal.TryAppendFence(7, new JournalCompletion(callback, 0, 7, -1, 0));
                await callback.WaitForAsync(1);
            }

            string what = await JournalTail.TearAsync(_dir, variant);
            all.Add(what);
            kinds.Add(what.Contains("garbage", StringComparison.Ordinal) ? "garbage" : "cut");
            foreach (string file in Directory.GetFiles(_dir))
            {
                File.Delete(file);
            }
        }

        Assert.True(kinds.Count == 2, string.Join("; ", all));
    }

    [Fact]
    public void The_fault_file_fails_writes_and_syncs_with_EIO_while_it_exists()
    {
        Directory.CreateDirectory(_dir);
        string switchFile = Path.Combine(_dir, "bookie.eio");
        var faults = new FaultFileInjector(switchFile);
        faults.BeforeWrite("journal/x.jnl", 0, 10);
        faults.BeforeSync("journal/x.jnl");

        File.WriteAllText(switchFile, "on");
        var write = Assert.Throws<IOException>(() => faults.BeforeWrite("journal/x.jnl", 0, 10));
        Assert.Equal(5, write.HResult);
        Assert.False(DiskErrors.IsOutOfSpace(write), "an I/O error is not a full disk: the bookie must not heal it by itself");
        Assert.Throws<IOException>(() => faults.BeforeSync("journal/x.jnl"));

        File.Delete(switchFile);
        faults.BeforeWrite("journal/x.jnl", 0, 10);
    }

    [Fact]
    public async Task A_journal_behind_the_fault_file_fails_the_append_and_stops()
    {
        Directory.CreateDirectory(_dir);
        string switchFile = Path.Combine(_dir, "bookie.eio");
        var callback = new Recorder();
        using var journal = new Journal(Options(new FaultFileInjector(switchFile)));
        journal.Replay(LogMark.Zero, new Collector());
        journal.Start();
        Assert.Equal(JournalAppendResult.Queued, journal.TryAppendFence(1, new JournalCompletion(callback, 0, 1, -1, 0)));
        await callback.WaitForAsync(1);
        Assert.Null(callback.Results.Single().Error);

        await File.WriteAllTextAsync(switchFile, "on");
        Assert.Equal(JournalAppendResult.Queued, journal.TryAppendFence(2, new JournalCompletion(callback, 1, 2, -1, 0)));
        await callback.WaitForAsync(2);
        var failed = Assert.IsType<IOException>(callback.Results.Single(r => r.Completion.RequestId == 1).Error);
        Assert.Equal(5, failed.HResult);
        Assert.NotNull(journal.Failure);
    }

    private JournalOptions Options(IFileFaultInjector? faults = null) =>
        new() { Directory = _dir, FileSize = 4 << 20, MaxBatchBytes = 2 << 20, Faults = faults ?? NoFaults.Instance };

    private sealed class Collector : IJournalReplayVisitor
    {
        public List<(JournalRecordType Type, byte[] Body)> Records { get; } = [];

        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body) => Records.Add((type, body.ToArray()));
    }

    private sealed class Recorder : IJournalCallback
    {
        private readonly ConcurrentQueue<(JournalCompletion Completion, Exception? Error)> _results = new();

        public IReadOnlyCollection<(JournalCompletion Completion, Exception? Error)> Results => _results;

        public void OnJournalComplete(in JournalCompletion completion, Exception? error)
        {
            _results.Enqueue((completion, error));
        }

        public async Task WaitForAsync(int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (_results.Count < count)
            {
                await Task.Delay(10, timeout.Token);
            }
        }
    }
}
