using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using DistributedLog.Cli.Commands;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// <c>dlog bench write|tail|catchup</c>: the user-facing benchmarks, against a proxy (<c>--endpoint</c>), the core
/// library (<c>--metadata</c>) or an in-process sandbox (<c>--in-process</c>). Each creates its own logs
/// (<c>bench/&lt;run&gt;/…</c>) and deletes them after.
/// </summary>
internal static class UserBenchCommands
{
    /// <summary>Largest bytes of one batch: a batch is one record set, which is one record (headers counted per record below).</summary>
    private const int MaxBatchBytes = LogRecord.MaxRecordSize - LogRecord.HeaderSize - RecordSetFormat.HeaderSize;

    private const int MaxLogs = 10_000;

    public static Command Write()
    {
        var target = new BenchTargetOptions();
        var logs = new Option<int>("--logs") { Description = "Logs written at once (calls spread round-robin).", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--size") { Description = "Payload bytes per record.", DefaultValueFactory = _ => 100 };
        var outstanding = new Option<int>("--outstanding") { Description = "Write calls in flight at once (over all logs).", DefaultValueFactory = _ => 64 };
        var records = new Option<long?>("--records") { Description = "Measure this many records (after the warm-up), then stop." };
        var duration = new Option<double?>("--duration") { Description = "Measure for this many seconds (after the warm-up); the default is 10 without --records." };
        var rate = new Option<double>("--rate")
        {
            Description = "Records per second over all logs (0: as fast as possible). Paced runs measure latency from each call's intended send time.",
            DefaultValueFactory = _ => 0,
        };
        var batch = new Option<int>("--batch") { Description = "Records per write call, sent as one record set (DL's writeRecordSet) through the proxy or the core library.", DefaultValueFactory = _ => 1 };
        var warmup = WarmupOption(2);
        var json = ClientOptions.Json();
        var command = new Command("write", "Write records to new logs with a fixed number of calls in flight, optionally paced; report records/s and write latency.")
        {
            logs, size, outstanding, records, duration, rate, batch, warmup, json,
        };
        target.AddTo(command);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            int logCount = result.GetValue(logs), payloadSize = result.GetValue(size), inflight = result.GetValue(outstanding), perCall = result.GetValue(batch);
            double perSecond = result.GetValue(rate);
            var (count, seconds) = Stop(result.GetValue(records), result.GetValue(duration));
            Check(logCount is >= 1 and <= MaxLogs, $"--logs must be within 1..{MaxLogs} (got {logCount}).");
            CheckSize(payloadSize, 0);
            Check(inflight is >= 1 and <= 1_000_000, $"--outstanding must be within 1..1000000 (got {inflight}).");
            CheckRate(perSecond);
            Check(perCall is >= 1 and <= 100_000, $"--batch must be within 1..100000 (got {perCall}).");
            Check((long)perCall * (payloadSize + RecordSetFormat.RecordOverhead) <= MaxBatchBytes, $"--batch × --size (plus {RecordSetFormat.RecordOverhead} bytes per record) must stay within {MaxBatchBytes} bytes (one record set); got {perCall} × {payloadSize}.");
            double warm = CheckWarmup(result.GetValue(warmup));
            bool asJson = result.GetValue(json);

            await using var bench = await target.OpenAsync(result, ct);
            var opened = await OpenLogsAsync(bench, logCount, perCall > 1, ct);
            try
            {
                byte[] payload = new byte[payloadSize];
                Random.Shared.NextBytes(payload);
                var batchPayloads = Enumerable.Repeat<ReadOnlyMemory<byte>>(payload, perCall).ToArray();
                // One record per log first, so every log has its segment open: the run measures steady writing, not segment starts.
                await WriteFirstAsync(opened.Logs, payload);
                var latency = new Latency();
                var settings = new LoadSettings(inflight, perCall, perSecond, warm, seconds, count);
                LoadResult load;
                await using (ProgressLine.StartIf(asJson, s => $"{latency.TakeInterval() / s:N0} records/s  p99 {latency.PercentileMs(99):F2} ms"))
                {
                    load = await LoadEngine.RunAsync(settings, (index, _) =>
                    {
                        var log = opened.Logs[(int)(index % logCount)];
                        return perCall == 1 ? WriteOneAsync(log, payload) : log.WriteBatchAsync(batchPayloads);
                    }, latency, ct);
                }

                ct.ThrowIfCancellationRequested();
                var summary = BenchSummary.From("write", bench.Description,
                    perSecond > 0 ? "write latency from intended send to acknowledgement" : "write latency from send to acknowledgement",
                    logCount, inflight, perCall, perSecond > 0 ? perSecond : null, payloadSize, load.Records, load.Seconds, load.Errors, load.FirstError, latency);
                summary.Print(asJson);
                return load.Errors == 0 ? 0 : 1;
            }
            finally
            {
                await opened.DisposeAsync();
            }
        }));
        return command;
    }

    public static Command Tail()
    {
        var target = new BenchTargetOptions();
        var readers = new Option<int>("--readers") { Description = "Tailing readers of the log (each reads every record).", DefaultValueFactory = _ => 1 };
        var rate = new Option<double>("--rate") { Description = "Records per second written.", DefaultValueFactory = _ => 1000 };
        var size = new Option<int>("--size") { Description = "Payload bytes per record (at least 16: intended send time and sequence number).", DefaultValueFactory = _ => 100 };
        var duration = new Option<double>("--duration") { Description = "Measured seconds (after the warm-up).", DefaultValueFactory = _ => 10 };
        var outstanding = new Option<int>("--outstanding") { Description = "Most writes in flight.", DefaultValueFactory = _ => 4096 };
        var warmup = WarmupOption(2);
        var json = ClientOptions.Json();
        var command = new Command("tail", "One writer writes a log at a fixed rate while K readers tail it; report write-to-read latency (from each record's intended send time).")
        {
            readers, rate, size, duration, outstanding, warmup, json,
        };
        target.AddTo(command);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            int readerCount = result.GetValue(readers), payloadSize = result.GetValue(size), inflight = result.GetValue(outstanding);
            double perSecond = result.GetValue(rate), seconds = result.GetValue(duration);
            Check(readerCount is >= 1 and <= 10_000, $"--readers must be within 1..10000 (got {readerCount}).");
            Check(perSecond > 0 && double.IsFinite(perSecond), $"--rate must be a number of records per second above 0 (got {perSecond}).");
            CheckSize(payloadSize, 16);
            Check(seconds > 0 && double.IsFinite(seconds), $"--duration must be a number of seconds above 0 (got {seconds}).");
            Check(inflight is >= 1 and <= 1_000_000, $"--outstanding must be within 1..1000000 (got {inflight}).");
            double warm = CheckWarmup(result.GetValue(warmup));
            bool asJson = result.GetValue(json);

            await using var bench = await target.OpenAsync(result, ct);
            var opened = await OpenLogsAsync(bench, 1, false, ct);
            try
            {
                var log = opened.Logs[0];
                byte[] first = new byte[payloadSize];
                BinaryPrimitives.WriteInt64LittleEndian(first.AsSpan(8), -1);
                var from = await log.WriteFirstAsync(first);
                var tail = new TailReaders(log, from, readerCount, Stopwatch.GetTimestamp() + Latency.FromSeconds(warm), ct);
                var acks = new Latency();
                LoadResult load;
                await using (ProgressLine.StartIf(asJson, s => $"{tail.Latency.TakeInterval() / s:N0} records/s read  p99 {tail.Latency.PercentileMs(99):F2} ms"))
                {
                    load = await LoadEngine.RunAsync(new LoadSettings(inflight, 1, perSecond, warm, seconds, null), (index, due) =>
                    {
                        byte[] payload = new byte[payloadSize];
                        BinaryPrimitives.WriteInt64LittleEndian(payload, due);
                        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8), index);
                        return WriteOneAsync(log, payload);
                    }, acks, ct);
                    await tail.FinishAsync(load.Issued, load.Errors);
                }

                ct.ThrowIfCancellationRequested();
                long delivered = tail.Latency.Count;
                var summary = BenchSummary.From("tail", bench.Description, "write-to-read latency from intended send to delivery", 1, inflight, 1, perSecond,
                    payloadSize, delivered, load.Seconds, load.Errors + tail.Errors, load.FirstError ?? tail.FirstError, tail.Latency) with
                {
                    Readers = readerCount,
                    WriteP50Ms = BenchSummary.Round(acks.PercentileMs(50)),
                    WriteP99Ms = BenchSummary.Round(acks.PercentileMs(99)),
                };
                summary.Print(asJson);
                return summary.Errors == 0 ? 0 : 1;
            }
            finally
            {
                await opened.DisposeAsync();
            }
        }));
        return command;
    }

    public static Command Catchup()
    {
        var target = new BenchTargetOptions();
        var records = new Option<long>("--records") { Description = "Records in the backlog (written first, as fast as possible).", DefaultValueFactory = _ => 1_000_000 };
        var size = new Option<int>("--size") { Description = "Payload bytes per record.", DefaultValueFactory = _ => 100 };
        var readers = new Option<int>("--readers") { Description = "Readers reading the whole backlog at once.", DefaultValueFactory = _ => 1 };
        var outstanding = new Option<int>("--outstanding") { Description = "Write calls in flight while writing the backlog.", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Records per write call while writing the backlog.", DefaultValueFactory = _ => 1 };
        var json = ClientOptions.Json();
        var command = new Command("catchup", "Write a backlog of records to a new log, then read it from the start; report read records/s.")
        {
            records, size, readers, outstanding, batch, json,
        };
        target.AddTo(command);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long count = result.GetValue(records);
            int payloadSize = result.GetValue(size), readerCount = result.GetValue(readers), inflight = result.GetValue(outstanding), perCall = result.GetValue(batch);
            Check(count is >= 1 and <= 1_000_000_000, $"--records must be within 1..1000000000 (got {count}).");
            CheckSize(payloadSize, 0);
            Check(readerCount is >= 1 and <= 1000, $"--readers must be within 1..1000 (got {readerCount}).");
            Check(inflight is >= 1 and <= 1_000_000, $"--outstanding must be within 1..1000000 (got {inflight}).");
            Check(perCall is >= 1 and <= 100_000, $"--batch must be within 1..100000 (got {perCall}).");
            Check((long)perCall * (payloadSize + RecordSetFormat.RecordOverhead) <= MaxBatchBytes, $"--batch × --size (plus {RecordSetFormat.RecordOverhead} bytes per record) must stay within {MaxBatchBytes} bytes (one record set); got {perCall} × {payloadSize}.");
            bool asJson = result.GetValue(json);

            await using var bench = await target.OpenAsync(result, ct);
            var opened = await OpenLogsAsync(bench, 1, perCall > 1, ct);
            try
            {
                var log = opened.Logs[0];
                byte[] payload = new byte[payloadSize];
                Random.Shared.NextBytes(payload);
                var from = await log.WriteFirstAsync(payload);
                var batchPayloads = Enumerable.Repeat<ReadOnlyMemory<byte>>(payload, perCall).ToArray();
                var writes = new Latency();
                LoadResult load;
                await using (ProgressLine.StartIf(asJson, s => $"writing the backlog: {writes.Count:N0} of {count:N0} records"))
                {
                    load = await LoadEngine.RunAsync(new LoadSettings(inflight, perCall, 0, 0, null, count),
                        (_, _) => perCall == 1 ? WriteOneAsync(log, payload) : log.WriteBatchAsync(batchPayloads), writes, ct);
                }

                ct.ThrowIfCancellationRequested();
                long backlog = writes.Count;
                // Reading: every reader from the first record, until it has the backlog (the first record and what was acknowledged).
                var gaps = new Latency();
                long errors = load.Errors;
                string? firstError = load.FirstError;
                long started = Stopwatch.GetTimestamp();
                long[] read = new long[readerCount];
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                stop.CancelAfter(TimeSpan.FromSeconds(Math.Max(60, backlog / 50_000.0)));
                await using (ProgressLine.StartIf(asJson, _ => $"reading the backlog: {read.Sum():N0} of {backlog * readerCount:N0} records"))
                {
                    var reading = Enumerable.Range(0, readerCount).Select(r => Task.Run(async () =>
                    {
                        long last = Stopwatch.GetTimestamp();
                        var own = new Latency();
                        try
                        {
                            bool skipped = false;
                            await foreach (var record in log.ReadAsync(from, stop.Token))
                            {
                                long now = Stopwatch.GetTimestamp();
                                if (!skipped)
                                {
                                    skipped = true;
                                    last = now;
                                    continue;
                                }

                                own.Record(now - last);
                                last = now;
                                if (Interlocked.Increment(ref read[r]) >= backlog)
                                {
                                    break;
                                }
                            }
                        }
                        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                        {
                            Interlocked.CompareExchange(ref firstError, e is OperationCanceledException ? "a reader did not finish in time" : e.Message, null);
                        }

                        gaps.Add(own);
                        return Stopwatch.GetTimestamp();
                    }, CancellationToken.None)).ToArray();
                    await Task.WhenAll(reading);
                }

                ct.ThrowIfCancellationRequested();
                double seconds = Math.Max(Latency.ToMs(Stopwatch.GetTimestamp() - started) / 1000, 1e-6);
                long total = read.Sum();
                errors += (backlog * readerCount) - total;
                var summary = BenchSummary.From("catchup", bench.Description, "gap between consecutive records delivered to a reader", 1, inflight, perCall, null,
                    payloadSize, total, seconds, errors, firstError, gaps) with
                {
                    Readers = readerCount,
                    WriteRecordsPerSecond = Math.Round(backlog / load.Seconds, 1),
                };
                summary.Print(asJson);
                return errors == 0 ? 0 : 1;
            }
            finally
            {
                await opened.DisposeAsync();
            }
        }));
        return command;
    }

    internal static Option<double> WarmupOption(double seconds) => new("--warmup")
    {
        Description = "Seconds of load before measuring (0: measure from the first record).",
        DefaultValueFactory = _ => seconds,
    };

    internal static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }

    internal static double CheckWarmup(double seconds)
    {
        Check(seconds >= 0 && seconds <= 3600, $"--warmup must be within 0..3600 seconds (got {seconds}).");
        return seconds;
    }

    private static void CheckSize(int size, int min) =>
        Check(size >= min && size <= LogRecord.MaxPayloadSize, $"--size must be within {min}..{LogRecord.MaxPayloadSize} bytes (got {size}).");

    private static void CheckRate(double rate) =>
        Check(rate >= 0 && double.IsFinite(rate), $"--rate must be a number of records per second, 0 for as fast as possible (got {rate}).");

    /// <summary>--records N or --duration S (not both); 10 s when neither is given.</summary>
    private static (long? Records, double? Seconds) Stop(long? records, double? seconds)
    {
        Check(records is null || seconds is null, "--records and --duration exclude each other: give one of them.");
        Check(records is null or >= 1, $"--records must be at least 1 (got {records}).");
        Check(seconds is null || (seconds > 0 && double.IsFinite(seconds.Value)), $"--duration must be a number of seconds above 0 (got {seconds}).");
        return records is null && seconds is null ? (null, 10) : (records, seconds);
    }

    internal static async Task<int> WriteOneAsync(BenchLog log, ReadOnlyMemory<byte> payload)
    {
        await log.WriteAsync(payload);
        return 0;
    }

    /// <summary>Creates <paramref name="count"/> new logs named <c>&lt;prefix&gt;/&lt;run&gt;/&lt;i&gt;</c> with a writer each (up to 16 at once).</summary>
    internal static async Task<OpenedLogs> OpenLogsAsync(BenchTarget target, int count, bool bulk, CancellationToken cancellationToken, string prefix = "bench")
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        var logs = new BenchLog?[count];
        var opened = new OpenedLogs(target, logs);
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                logs[i] = await target.CreateLogAsync($"{prefix}/{run}/{i}", ct);
            });
        }
        catch
        {
            await opened.DisposeAsync();
            throw;
        }

        return opened;
    }

    /// <summary>Writes the first record of every log (up to 16 at once); returns the DLSNs, the positions readers start from.</summary>
    internal static async Task<Dlsn[]> WriteFirstAsync(IReadOnlyList<BenchLog> logs, ReadOnlyMemory<byte> payload)
    {
        var dlsns = new Dlsn[logs.Count];
        await Parallel.ForAsync(0, logs.Count, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) => dlsns[i] = await logs[i].WriteFirstAsync(payload));
        return dlsns;
    }
}

/// <summary>The logs of a run: closed and deleted when it ends (up to 16 at once).</summary>
internal sealed class OpenedLogs(BenchTarget target, BenchLog?[] logs) : IAsyncDisposable
{
    public IReadOnlyList<BenchLog> Logs => logs!;

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(logs.OfType<BenchLog>(), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (log, _) =>
        {
            try
            {
                await log.DisposeAsync();
                await target.DeleteLogAsync(log.Name, CancellationToken.None);
            }
            catch (Exception e) when (e is Protocol.Errors.DlException or IOException)
            {
                await Console.Error.WriteLineAsync($"dlog: could not delete bench log {log.Name}: {e.Message}");
            }
        });
    }
}

/// <summary>
/// K readers tailing one log from a DLSN; each record carries its intended send time (8 bytes) and sequence number
/// (8 bytes, −1 for the first record); each reader checks the sequence (nothing lost, repeated or reordered) and records
/// the write-to-read latency of the records due after the warm-up.
/// </summary>
internal sealed class TailReaders
{
    private readonly long[] _read;
    private readonly Task[] _readers;
    private readonly CancellationTokenSource _stop;
    private long _errors;
    private string? _firstError;

    public TailReaders(BenchLog log, Dlsn from, int count, long warmupEnd, CancellationToken cancellationToken)
    {
        _read = new long[count];
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _readers = [.. Enumerable.Range(0, count).Select(r => Task.Run(async () =>
        {
            long expected = -1;
            try
            {
                await foreach (var record in log.ReadAsync(from, _stop.Token))
                {
                    long now = Stopwatch.GetTimestamp();
                    long due = BinaryPrimitives.ReadInt64LittleEndian(record.Payload.Span);
                    long sequence = BinaryPrimitives.ReadInt64LittleEndian(record.Payload.Span[8..]);
                    if (sequence != expected)
                    {
                        throw new InvalidDataException($"reader {r} got record {sequence} at {record.Dlsn} where {expected} was expected (lost, repeated or out of order).");
                    }

                    expected++;
                    if (sequence >= 0)
                    {
                        if (due >= warmupEnd)
                        {
                            Latency.Record(now - due);
                        }
                        else
                        {
                            Latency.Completed(1);
                        }

                        Volatile.Write(ref _read[r], sequence + 1);
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _errors);
                Interlocked.CompareExchange(ref _firstError, e.Message, null);
            }
        }, CancellationToken.None))];
    }

    /// <summary>Write-to-read latency over all readers.</summary>
    public Latency Latency { get; } = new();

    /// <summary>Readers that failed, plus records not delivered to a reader.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    public string? FirstError => _firstError;

    /// <summary>
    /// After the writes: waits (up to 30 s) until every reader has read the <paramref name="written"/> records (less
    /// <paramref name="failed"/>), then stops them; a reader short of records counts the missing ones as errors.
    /// </summary>
    public async Task FinishAsync(long written, long failed)
    {
        long wanted = written - failed;
        long deadline = Stopwatch.GetTimestamp() + Latency.FromSeconds(30);
        while (Stopwatch.GetTimestamp() < deadline && !AllRead(wanted) && _readers.Any(t => !t.IsCompleted))
        {
            await Task.Delay(10, CancellationToken.None);
        }

        await _stop.CancelAsync();
        await Task.WhenAll(_readers);
        foreach (long n in _read)
        {
            if (n < wanted)
            {
                Interlocked.Add(ref _errors, wanted - n);
                Interlocked.CompareExchange(ref _firstError, $"a reader read {n} of {wanted} records within 30 s of the last write", null);
            }
        }

        _stop.Dispose();
    }

    private bool AllRead(long wanted)
    {
        for (int i = 0; i < _read.Length; i++)
        {
            if (Volatile.Read(ref _read[i]) < wanted)
            {
                return false;
            }
        }

        return true;
    }
}
