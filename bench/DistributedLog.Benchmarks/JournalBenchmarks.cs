using BenchmarkDotNet.Attributes;
using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Wire;

namespace DistributedLog.Benchmarks;

/// <summary>
/// The bookie journal's group commit: append a burst of records (as 64 concurrent adds would) and wait until the
/// batch is written and (with <see cref="Sync"/>) fdatasync'd. Measures time per burst and allocations per burst;
/// the append path itself should allocate nothing per record.
/// </summary>
[MemoryDiagnoser]
public class JournalBenchmarks : IJournalCallback
{
    private string _dir = "";
    private Journal _journal = null!;
    private byte[] _entry = [];
    private int _pending;
    private readonly ManualResetEventSlim _done = new();

    /// <summary>Records per burst (one group-commit batch).</summary>
    [Params(1, 64)]
    public int Records { get; set; }

    /// <summary>Whether each batch is fdatasync'd.</summary>
    [Params(true, false)]
    public bool Sync { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "bench-journal-" + Guid.NewGuid().ToString("N"));
        _journal = new Journal(new JournalOptions { Directory = _dir, SyncData = Sync, FileSize = 64L << 20 });
        _journal.Replay(LogMark.Zero, new NoReplay());
        _journal.Start();
        byte[] payload = new byte[1024];
        Random.Shared.NextBytes(payload);
        _entry = new byte[PackagedEntry.SizeOf(payload.Length)];
        PackagedEntry.Write(_entry, 1, 0, -1, 0, payload);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _journal.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark]
    public void AppendBurstAndWaitDurable()
    {
        _done.Reset();
        Volatile.Write(ref _pending, Records);
        var completion = new JournalCompletion(this, 0, 1, 0, 0);
        for (int i = 0; i < Records; i++)
        {
            while (_journal.TryAppendAddEntry(_entry, completion) == JournalAppendResult.Full)
            {
                _journal.WaitForSpaceAsync(CancellationToken.None).Wait();
            }
        }

        _done.Wait();
    }

    /// <inheritdoc />
    public void OnJournalComplete(in JournalCompletion completion, Exception? error)
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            _done.Set();
        }
    }

    private sealed class NoReplay : IJournalReplayVisitor
    {
        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body)
        {
        }
    }
}
