using System.Diagnostics;
using System.Globalization;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;
using Xunit.Abstractions;

namespace DistributedLog.Tests.Semantics;

/// <summary>
/// Randomized histories with real processes: four <c>dlog bookie</c> processes and a real etcd; writers are
/// <c>dlog append</c> processes (E=3, Qw=3, Qa=2) that take over from each other — by fencing takeover while the previous
/// one still writes, or through the ownership lock after the previous one was SIGKILLed — while one bookie at a time is
/// SIGKILLed and restarted. A tailing reader follows the whole history. At the end every reader's view must hold each
/// acknowledged record exactly once, at its acknowledged DLSN and in acknowledged order, and the views must agree: what
/// the tailing reader once saw never vanished.
/// </summary>
public sealed class ProcessHistoryTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private const string LogName = "history";

    /// <summary>Longest wait for any one thing to happen: a guard against hangs, never a measure of speed.</summary>
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(101)]
    [InlineData(202)]
    public async Task Writers_and_bookies_killed_every_acknowledged_record_exactly_once_in_order(int seed)
    {
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        await using var cluster = await ProcessCluster.StartAsync(4, etcd);
        await using var ns = await DistributedLogNamespace.OpenAsync(cluster.MetadataUri);
        await ns.CreateLogAsync(LogName);
        var log = ns.OpenLog(LogName);
        output.WriteLine($"seed {seed}: cluster up at {clock.Elapsed}");

        using var stopTail = new CancellationTokenSource();
        var tail = new TailingReader(log, output);
        var tailing = tail.RunAsync(stopTail.Token);
        var writers = new List<WriterProcess>();
        try
        {
            await RunHistoryAsync(random, cluster, log, writers, clock);
            var tailView = await tailing.WaitAsync(Guard);
            var first = await ReadAllAsync(log);
            var second = await ReadAllAsync(log);
            output.WriteLine($"{clock.Elapsed}: {writers.Sum(w => w.Acks.Count)} acknowledged by {writers.Count} writers, {first.Count} records, " +
                $"{(await log.GetSegmentsAsync()).Count} segments, tailing reader reopened {tail.Reopened} times");

            // Every view is the same sequence, in strictly increasing DLSN and txid order (no duplicates).
            Assert.Equal(first, second);
            Assert.Equal(first, tailView);
            for (int i = 1; i < first.Count; i++)
            {
                Assert.True(first[i - 1].Dlsn < first[i].Dlsn && first[i - 1].TxId < first[i].TxId, $"{first[i - 1]} then {first[i]}");
            }

            // Each acknowledged record is in the log at its DLSN, and the acknowledgements (writer by writer, each in its
            // own order) follow the log's order.
            var byDlsn = first.ToDictionary(r => r.Dlsn, r => r.TxId);
            var acknowledged = writers.SelectMany(w => w.Acks).ToList();
            Assert.True(acknowledged.Count >= 500, $"the history acknowledged only {acknowledged.Count} records");
            for (int i = 0; i < acknowledged.Count; i++)
            {
                var (dlsn, txId) = acknowledged[i];
                Assert.True(byDlsn.TryGetValue(dlsn, out long found), $"acknowledged record {dlsn} (txid {txId}) is not in the log");
                Assert.Equal(txId, found);
                if (i > 0)
                {
                    Assert.True(acknowledged[i - 1].Dlsn < dlsn, $"acknowledged {acknowledged[i - 1].Dlsn} before {dlsn}");
                }
            }
        }
        finally
        {
            await stopTail.CancelAsync();
            foreach (var writer in writers)
            {
                await writer.DisposeAsync();
            }

            try
            {
                await tailing;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>
    /// The faults: writers taking over or SIGKILLed, one bookie at a time SIGKILLed then restarted; in the end the last
    /// writer is SIGKILLed and an in-process writer recovers its segment and seals the log.
    /// </summary>
    private async Task RunHistoryAsync(Random random, ProcessCluster cluster, LogManager log, List<WriterProcess> writers, Stopwatch clock)
    {
        long maxSegmentBytes = 100_000 + random.Next(400_000);
        WriterProcess Start(bool takeover)
        {
            var writer = WriterProcess.Start(cluster.MetadataUri, writers.Count, takeover, maxSegmentBytes);
            writers.Add(writer);
            output.WriteLine($"{clock.Elapsed}: writer {writer.Index} started ({(takeover ? "takeover" : "lock")})");
            return writer;
        }

        int killedBookie = -1;
        var current = Start(takeover: false);
        for (int step = 0; step < 8; step++)
        {
            // Let the current writer make progress (or fail on its own) before the next fault.
            if (!await current.WaitForAcksAsync(current.Acks.Count + random.Next(50, 300), Guard))
            {
                output.WriteLine($"{clock.Elapsed}: writer {current.Index} stopped with {current.Acks.Count} acks: {current.ExitSummary()}");
                await current.KillAsync();
                current = Start(takeover: random.Next(2) == 0);
                continue;
            }

            int action = random.Next(10);
            if (action < 3)
            {
                // Fencing takeover: the new writer recovers the segment under the old one, which is still writing.
                var previous = current;
                current = Start(takeover: true);
                if (!await current.WaitForAcksAsync(1, Guard))
                {
                    // The new writer failed (e.g. fenced back by the old one rolling its segment): both go.
                    output.WriteLine($"{clock.Elapsed}: takeover writer {current.Index} failed: {current.ExitSummary()}");
                }
                else if (!await previous.WaitForExitAsync(Guard))
                {
                    output.WriteLine($"{clock.Elapsed}: fenced writer {previous.Index} still running; killing it");
                }

                await previous.KillAsync();
                output.WriteLine($"{clock.Elapsed}: writer {previous.Index} taken over after {previous.Acks.Count} acks");
            }
            else if (action < 6)
            {
                // The writer process dies; the next one waits for its lease to expire (or fences it when taking over).
                await current.KillAsync();
                output.WriteLine($"{clock.Elapsed}: writer {current.Index} SIGKILLed after {current.Acks.Count} acks");
                current = Start(takeover: random.Next(3) == 0);
            }
            else if (killedBookie < 0)
            {
                killedBookie = random.Next(cluster.Bookies.Count);
                await cluster.Bookies[killedBookie].KillAsync();
                output.WriteLine($"{clock.Elapsed}: bookie {killedBookie} SIGKILLed");
            }
            else
            {
                await cluster.Bookies[killedBookie].StartAsync();
                output.WriteLine($"{clock.Elapsed}: bookie {killedBookie} restarted");
                killedBookie = -1;
            }
        }

        if (killedBookie >= 0)
        {
            await cluster.Bookies[killedBookie].StartAsync();
        }

        await current.WaitForAcksAsync(current.Acks.Count + 50, Guard);
        await current.KillAsync();
        output.WriteLine($"{clock.Elapsed}: last writer {current.Index} SIGKILLed after {current.Acks.Count} acks");

        // A last writer recovers the dead one's segment and seals the log, so that every reader reaches a definite end.
        await using var last = await log.OpenWriterAsync(new LogWriterOptions { DisableOwnershipLock = true });
        await last.MarkEndOfStreamAsync();
        await last.CloseAsync();
    }

    /// <summary>Reads the whole (sealed) log from the start to its end-of-stream.</summary>
    private static async Task<List<(Dlsn Dlsn, long TxId)>> ReadAllAsync(LogManager log)
    {
        var records = new List<(Dlsn, long)>();
        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
        using var guard = new CancellationTokenSource(Guard);
        await foreach (var record in reader.WithCancellation(guard.Token))
        {
            records.Add((record.Dlsn, record.TxId));
        }

        return records;
    }

    /// <summary>
    /// A reader that tails the log from its start through the whole history until the end of stream. Should it fail (a
    /// read error while bookies die), it is reopened after the last record it returned, as an application would.
    /// </summary>
    private sealed class TailingReader(LogManager log, ITestOutputHelper output)
    {
        public int Reopened { get; private set; }

        public async Task<List<(Dlsn Dlsn, long TxId)>> RunAsync(CancellationToken cancellationToken)
        {
            var seen = new List<(Dlsn Dlsn, long TxId)>();
            while (true)
            {
                var from = seen.Count == 0 ? ReadPosition.Earliest : ReadPosition.FromDlsn(seen[^1].Dlsn.Next());
                try
                {
                    await using var reader = await log.OpenReaderAsync(from, new LogReaderOptions { SegmentPollInterval = TimeSpan.FromSeconds(1) }, cancellationToken);
                    await foreach (var record in reader.WithCancellation(cancellationToken))
                    {
                        seen.Add((record.Dlsn, record.TxId));
                    }

                    return seen;
                }
                catch (DlException e) when (!cancellationToken.IsCancellationRequested)
                {
                    Reopened++;
                    output.WriteLine($"tailing reader failed after {seen.Count} records ({e.GetType().Name}: {e.Message}); reopening");
                    await Task.Delay(100, cancellationToken);
                }
            }
        }
    }

    /// <summary>A <c>dlog append</c> process writing 100 B records at a steady rate, and the acknowledgements it printed.</summary>
    private sealed class WriterProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task _stdout;
        private readonly Task<string> _stderr;
        private readonly List<(Dlsn Dlsn, long TxId)> _acks = [];
        private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private WriterProcess(int index, Process process)
        {
            Index = index;
            _process = process;
            _stdout = ReadAcksAsync();
            _stderr = process.StandardError.ReadToEndAsync();
        }

        public int Index { get; }

        /// <summary>The acknowledgements received so far, in the order printed.</summary>
        public IReadOnlyList<(Dlsn Dlsn, long TxId)> Acks
        {
            get
            {
                lock (_acks)
                {
                    return [.. _acks];
                }
            }
        }

        public static WriterProcess Start(string metadataUri, int index, bool takeover, long maxSegmentBytes)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string arg in new[]
            {
                BookieProcess.DlogDll, "append", LogName, "--metadata", metadataUri, "--count", "100000000", "--size", "100",
                "--rate", "2000", "--ownership-ttl-seconds", "2", "--lock-timeout-seconds", "30",
                "--ensemble-size", "3", "--write-quorum", "3", "--ack-quorum", "2",
                "--max-segment-bytes", maxSegmentBytes.ToString(CultureInfo.InvariantCulture), "--clock-txids",
            })
            {
                info.ArgumentList.Add(arg);
            }

            if (takeover)
            {
                info.ArgumentList.Add("--takeover");
            }

            return new WriterProcess(index, Process.Start(info)!);
        }

        /// <summary>Waits until <paramref name="count"/> acknowledgements arrived; false if the process ended first (or the guard passed).</summary>
        public async Task<bool> WaitForAcksAsync(int count, TimeSpan guard)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(guard.TotalSeconds * Stopwatch.Frequency);
            while (true)
            {
                Task progress;
                lock (_acks)
                {
                    if (_acks.Count >= count)
                    {
                        return true;
                    }

                    progress = _progress.Task;
                }

                if (_stdout.IsCompleted || Stopwatch.GetTimestamp() > deadline)
                {
                    return false;
                }

                await Task.WhenAny(progress, _stdout, Task.Delay(TimeSpan.FromMilliseconds(200)));
            }
        }

        /// <summary>Waits for the process to exit on its own (a fenced writer fails and exits); false after the guard.</summary>
        public async Task<bool> WaitForExitAsync(TimeSpan guard)
        {
            using var cts = new CancellationTokenSource(guard);
            try
            {
                await _process.WaitForExitAsync(cts.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        /// <summary>SIGKILL (if still running), then collects every acknowledgement it managed to print.</summary>
        public async Task KillAsync()
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }

            await _process.WaitForExitAsync().WaitAsync(Guard);
            await _stdout.WaitAsync(Guard);
        }

        public string ExitSummary() =>
            _process.HasExited ? $"exit code {_process.ExitCode}, {(_stderr.IsCompleted ? _stderr.Result.Trim() : "")}" : "still running";

        /// <summary>Kills the process (if still running) and releases it.</summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                await KillAsync();
            }
            finally
            {
                _process.Dispose();
            }
        }

        private async Task ReadAcksAsync()
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                // "<dlsn> <txid>", one per acknowledged record; a SIGKILL cannot tear a line (one short write to a pipe).
                string[] parts = line.Split(' ');
                if (parts.Length != 2 || !Dlsn.TryParse(parts[0], CultureInfo.InvariantCulture, out var dlsn) ||
                    !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long txId))
                {
                    continue;
                }

                TaskCompletionSource progressed;
                lock (_acks)
                {
                    _acks.Add((dlsn, txId));
                    progressed = _progress;
                    _progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                progressed.TrySetResult();
            }
        }
    }
}
