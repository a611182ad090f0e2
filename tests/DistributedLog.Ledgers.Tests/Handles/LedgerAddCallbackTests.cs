using System.Collections.Concurrent;
using System.Text;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;

namespace DistributedLog.Ledgers.Tests.Handles;

/// <summary>
/// <see cref="LedgerHandle.AddEntry"/>: the ledger is the one place adds are put in order, so its callback must be
/// called once per entry, in entry order, never two at once — also when it fails. Real bookies (in-process, TCP, files).
/// </summary>
public sealed class LedgerAddCallbackTests : IAsyncLifetime
{
    private InProcessCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await InProcessCluster.StartAsync(4, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(15) });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>Records every call, and whether two calls ever overlapped.</summary>
    private sealed class Recorder : ILedgerAddCallback
    {
        private int _inside;

        public ConcurrentQueue<(long EntryId, Exception? Error, object? State)> Calls { get; } = new();

        public int Overlaps;

        public TaskCompletionSource AllDone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Expected { get; set; } = int.MaxValue;

        public void OnAddCompleted(long entryId, Exception? error, object? state)
        {
            if (Interlocked.Increment(ref _inside) > 1)
            {
                Interlocked.Increment(ref Overlaps);
            }

            Calls.Enqueue((entryId, error, state));
            Thread.SpinWait(50); // widen the window in which an overlapping call would be seen
            Interlocked.Decrement(ref _inside);
            if (Calls.Count >= Expected)
            {
                AllDone.TrySetResult();
            }
        }
    }

    [Fact]
    public async Task Callbacks_come_once_per_entry_in_entry_order_and_never_overlap()
    {
        await using var writer = await _cluster.Client.CreateLedgerAsync(3, 3, 2);
        var recorder = new Recorder { Expected = 3000 };
        // Adds from several threads at once: entry ids are handed out in call order, and completions must follow them.
        await Parallel.ForAsync(0, 3000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, (i, _) =>
        {
            Assert.Null(writer.AddEntry(Encoding.UTF8.GetBytes($"entry {i}"), recorder, i));
            return ValueTask.CompletedTask;
        });

        await recorder.AllDone.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var calls = recorder.Calls.ToArray();
        Assert.Equal(3000, calls.Length);
        Assert.Equal(0, recorder.Overlaps);
        for (int k = 0; k < calls.Length; k++)
        {
            Assert.Equal(k, calls[k].EntryId);
            Assert.Null(calls[k].Error);
        }

        Assert.Equal(2999, writer.LastAddConfirmed);
        Assert.Equal(3000, calls.Select(c => (int)c.State!).Distinct().Count());
    }

    [Fact]
    public async Task After_fencing_every_later_entry_fails_in_order_and_none_succeeds_after_a_failure()
    {
        var writer = await _cluster.Client.CreateLedgerAsync(3, 3, 2);
        var recorder = new Recorder();
        for (int i = 0; i < 200; i++)
        {
            Assert.Null(writer.AddEntry(Encoding.UTF8.GetBytes($"entry {i}"), recorder, null));
        }

        await using var other = new LedgerClient(_cluster.LedgerStore, _cluster.Registry);
        var recovered = await other.OpenLedgerAsync(writer.LedgerId); // fences the writer
        int sent = 200;
        Exception? refused = null;
        for (; refused is null && sent < 5000; sent++)
        {
            refused = writer.AddEntry(Encoding.UTF8.GetBytes($"entry {sent}"), recorder, null);
            await Task.Yield();
        }

        Assert.NotNull(refused); // once failed, the ledger refuses at once: no callback for a refused add
        int expected = sent - 1;
        recorder.Expected = expected;
        if (recorder.Calls.Count >= expected)
        {
            recorder.AllDone.TrySetResult();
        }

        await recorder.AllDone.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var calls = recorder.Calls.ToArray();
        Assert.Equal(expected, calls.Length);
        Assert.Equal(0, recorder.Overlaps);
        bool failed = false;
        for (int k = 0; k < calls.Length; k++)
        {
            Assert.Equal(k, calls[k].EntryId);
            if (calls[k].Error is not null)
            {
                failed = true;
                Assert.IsType<LedgerFencedException>(calls[k].Error);
            }
            else
            {
                Assert.False(failed, $"entry {k} succeeded after an earlier entry failed");
                Assert.True(k <= recovered.Metadata.LastEntryId, $"entry {k} was acknowledged but recovery closed the ledger at {recovered.Metadata.LastEntryId}");
            }
        }

        Assert.True(failed);
    }
}
