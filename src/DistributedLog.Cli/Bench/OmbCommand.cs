using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using DistributedLog.Cli.Commands;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Bench;

/// <summary>The one summary object of <c>dlog bench omb --json</c>: what OMB reports, in its terms.</summary>
internal sealed record OmbSummary
{
    public required string Workload { get; init; }

    public required string Target { get; init; }

    public required int Logs { get; init; }

    public required int Producers { get; init; }

    public required int Consumers { get; init; }

    public required double Seconds { get; init; }

    public required long MessagesPublished { get; init; }

    public required long MessagesConsumed { get; init; }

    public required double PublishRatePerSecond { get; init; }

    public required double PublishMegabytesPerSecond { get; init; }

    public required double ConsumeRatePerSecond { get; init; }

    public required double ConsumeMegabytesPerSecond { get; init; }

    /// <summary>Messages published but not yet consumed (over all subscriptions) when the producers stopped.</summary>
    public required long Backlog { get; init; }

    /// <summary>Whether every subscription had consumed every published message by the end.</summary>
    public required bool BacklogDrained { get; init; }

    /// <summary>With <c>consumerBacklogSizeGB</c>: seconds the consumers took to drain the backlog built before they started.</summary>
    public double? BacklogDrainSeconds { get; init; }

    public required double PublishLatencyAvgMs { get; init; }

    public required double PublishP50Ms { get; init; }

    public required double PublishP75Ms { get; init; }

    public required double PublishP95Ms { get; init; }

    public required double PublishP99Ms { get; init; }

    public required double PublishP999Ms { get; init; }

    public required double PublishP9999Ms { get; init; }

    public required double PublishMaxMs { get; init; }

    /// <summary>OMB's publish delay: how late each send left against its intended time (the producer falling behind).</summary>
    public required double PublishDelayP50Ms { get; init; }

    public required double PublishDelayP99Ms { get; init; }

    public required double PublishDelayMaxMs { get; init; }

    /// <summary>Publish latency from the intended send time (no coordinated omission): delay and latency together.</summary>
    public required double PublishFromIntendedP99Ms { get; init; }

    public required double EndToEndAvgMs { get; init; }

    public required double EndToEndP50Ms { get; init; }

    public required double EndToEndP75Ms { get; init; }

    public required double EndToEndP95Ms { get; init; }

    public required double EndToEndP99Ms { get; init; }

    public required double EndToEndP999Ms { get; init; }

    public required double EndToEndP9999Ms { get; init; }

    public required double EndToEndMaxMs { get; init; }

    public required long Errors { get; init; }

    public string? FirstError { get; init; }
}

/// <summary>
/// <c>dlog bench omb WORKLOAD.yaml</c>: runs an OpenMessaging Benchmark workload. Each topic partition is a log; each
/// topic has <c>producersPerTopic</c> producers sharing <c>producerRate</c>, spreading messages over its partitions by
/// <c>keyDistributor</c>; each subscription is <c>consumerPerSubscription</c> consumers dividing the partitions between
/// them, each partition read by one tailing reader per subscription. After <c>warmupDurationMinutes</c> it measures for
/// <c>testDurationMinutes</c> (or <c>--duration</c>) what OMB reports: publish and consume rates, publish latency (send to
/// acknowledgement) and publish delay, end-to-end latency (send to delivery), and the backlog.
/// </summary>
internal static class OmbCommand
{
    public static Command Create()
    {
        var target = new BenchTargetOptions();
        var file = new Argument<string>("workload") { Description = "An OMB workload file (YAML), e.g. bench/omb-workloads/1-topic-1-partition-100b.yaml." };
        var duration = new Option<double?>("--duration") { Description = "Measured seconds, instead of the file's testDurationMinutes." };
        var warmup = new Option<double?>("--warmup") { Description = "Warm-up seconds, instead of the file's warmupDurationMinutes." };
        var outstanding = new Option<int>("--outstanding") { Description = "Most messages in flight per producer.", DefaultValueFactory = _ => 1000 };
        var json = ClientOptions.Json();
        var command = new Command("omb", "Run an OpenMessaging Benchmark workload file: topic partitions are logs, subscriptions are tailing readers; report what OMB reports.")
        {
            file, duration, warmup, outstanding, json,
        };
        target.AddTo(command);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            var workload = OmbWorkload.Load(result.GetValue(file)!);
            double seconds = result.GetValue(duration) ?? workload.TestDurationMinutes * 60;
            UserBenchCommands.Check(seconds > 0 && double.IsFinite(seconds),
                result.GetValue(duration) is null ? "the workload's testDurationMinutes must be above 0 (or give --duration)." : $"--duration must be a number of seconds above 0 (got {seconds}).");
            double warm = UserBenchCommands.CheckWarmup(result.GetValue(warmup) ?? workload.WarmupDurationMinutes * 60);
            int inflight = result.GetValue(outstanding);
            UserBenchCommands.Check(inflight is >= 1 and <= 1_000_000, $"--outstanding must be within 1..1000000 (got {inflight}).");
            var payloads = workload.Payloads();
            bool asJson = result.GetValue(json);

            await using var bench = await target.OpenAsync(result, ct);
            int partitions = workload.PartitionsPerTopic, logCount = workload.Topics * partitions;
            var opened = await UserBenchCommands.OpenLogsAsync(bench, logCount, false, ct, "omb");
            try
            {
                var run = new OmbRun(workload, opened.Logs, payloads, warm, seconds, inflight, ct);
                await run.PrepareAsync();
                OmbSummary summary;
                await using (ProgressLine.StartIf(asJson, run.ProgressLine))
                {
                    summary = await run.RunAsync(bench.Description);
                }

                ct.ThrowIfCancellationRequested();
                Print(summary, asJson);
                return summary.Errors == 0 ? 0 : 1;
            }
            finally
            {
                await opened.DisposeAsync();
            }
        }));
        return command;
    }

    private static void Print(OmbSummary s, bool json)
    {
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(s, BenchSummaryJson.Default.OmbSummary));
            return;
        }

        Console.WriteLine($"dlog bench omb: {s.Workload} on {s.Target}: {s.Logs} log(s), {s.Producers} producer(s), {s.Consumers} consumer(s), {s.Seconds:F1} s measured");
        Console.WriteLine($"  Pub rate {s.PublishRatePerSecond:N1} msg/s / {s.PublishMegabytesPerSecond:F1} MB/s | Cons rate {s.ConsumeRatePerSecond:N1} msg/s / " +
            $"{s.ConsumeMegabytesPerSecond:F1} MB/s | Backlog: {s.Backlog / 1000.0:F1} K ({(s.BacklogDrained ? "drained" : "not drained")})" +
            (s.BacklogDrainSeconds is { } d ? $" | Backlog drained in {d:F1} s" : ""));
        Console.WriteLine($"  Aggregated Pub Latency (ms) avg: {s.PublishLatencyAvgMs:F1} - 50%: {s.PublishP50Ms:F1} - 75%: {s.PublishP75Ms:F1} - 95%: {s.PublishP95Ms:F1} - " +
            $"99%: {s.PublishP99Ms:F1} - 99.9%: {s.PublishP999Ms:F1} - 99.99%: {s.PublishP9999Ms:F1} - Max: {s.PublishMaxMs:F1}");
        Console.WriteLine($"  Aggregated Pub Delay (ms) 50%: {s.PublishDelayP50Ms:F1} - 99%: {s.PublishDelayP99Ms:F1} - Max: {s.PublishDelayMaxMs:F1}" +
            $" | from intended send 99%: {s.PublishFromIntendedP99Ms:F1}");
        Console.WriteLine($"  Aggregated E2E Latency (ms) avg: {s.EndToEndAvgMs:F1} - 50%: {s.EndToEndP50Ms:F1} - 75%: {s.EndToEndP75Ms:F1} - 95%: {s.EndToEndP95Ms:F1} - " +
            $"99%: {s.EndToEndP99Ms:F1} - 99.9%: {s.EndToEndP999Ms:F1} - 99.99%: {s.EndToEndP9999Ms:F1} - Max: {s.EndToEndMaxMs:F1}");
        Console.WriteLine($"  errors {s.Errors}" + (s.FirstError is { } e ? $" (first: {e})" : ""));
    }
}

/// <summary>One run of a workload: producers, consumers, and the counts OMB reports.</summary>
internal sealed class OmbRun(OmbWorkload workload, IReadOnlyList<BenchLog> logs, byte[][] payloads, double warmupSeconds, double seconds, int outstanding,
    CancellationToken cancellationToken)
{
    private readonly Dlsn[] _from = new Dlsn[logs.Count];
    private readonly long[] _published = new long[logs.Count];
    private readonly Latency _publish = new(), _delay = new(), _fromIntended = new(), _endToEnd = new();
    private long _publishedMeasured, _consumedMeasured, _consumedTotal, _errors, _publishedBytes, _publishedInterval, _consumedInterval;
    private long _warmupEnd, _end;
    private string? _firstError;

    private int Partitions => workload.PartitionsPerTopic;

    /// <summary>One first record per log (not counted): the position every consumer starts from, and each segment open.</summary>
    public async Task PrepareAsync()
    {
        byte[] first = new byte[Math.Max(payloads[0].Length, sizeof(long))];
        var from = await UserBenchCommands.WriteFirstAsync(logs, first);
        from.CopyTo(_from, 0);
    }

    public string ProgressLine(double interval) =>
        $"Pub rate {Interlocked.Exchange(ref _publishedInterval, 0) / interval:N0} msg/s | Cons rate {Interlocked.Exchange(ref _consumedInterval, 0) / interval:N0} msg/s | " +
        $"Pub Latency p99 {_publish.PercentileMs(99):F1} ms | E2E p99 {_endToEnd.PercentileMs(99):F1} ms";

    public async Task<OmbSummary> RunAsync(string target)
    {
        long start = Stopwatch.GetTimestamp();
        _warmupEnd = start + Latency.FromSeconds(warmupSeconds);
        _end = _warmupEnd + Latency.FromSeconds(seconds);
        int producers = workload.Topics * workload.ProducersPerTopic;
        int consumers = workload.Topics * workload.SubscriptionsPerTopic * workload.ConsumerPerSubscription;
        using var stopConsumers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var read = new long[workload.SubscriptionsPerTopic, logs.Count];
        long backlogBytes = (long)(workload.ConsumerBacklogSizeGB * (1L << 30));
        bool producersDone = false;
        long drainedAt = 0, consumersStart = 0;
        var consuming = Task.Run(async () =>
        {
            // With a backlog to build, the consumers start once that much has been published (OMB pauses them until
            // then), or when the producers stop.
            while (backlogBytes > 0 && Interlocked.Read(ref _publishedBytes) < backlogBytes && !Volatile.Read(ref producersDone) &&
                !stopConsumers.IsCancellationRequested)
            {
                await Task.Delay(5, CancellationToken.None);
            }

            consumersStart = Stopwatch.GetTimestamp();
            long backlogAtStart = _published.Sum() * workload.SubscriptionsPerTopic;
            var readers = new List<Task>();
            for (int s = 0; s < workload.SubscriptionsPerTopic; s++)
            {
                for (int log = 0; log < logs.Count; log++)
                {
                    readers.Add(ConsumeAsync(s, log, read, stopConsumers.Token));
                }
            }

            if (backlogBytes > 0)
            {
                // The backlog is drained when the subscriptions have consumed what was published before they started.
                while (Interlocked.Read(ref _consumedTotal) < backlogAtStart && !stopConsumers.IsCancellationRequested)
                {
                    await Task.Delay(5, CancellationToken.None);
                }

                if (!stopConsumers.IsCancellationRequested)
                {
                    Volatile.Write(ref drainedAt, Stopwatch.GetTimestamp());
                }
            }

            await Task.WhenAll(readers);
        }, CancellationToken.None);

        // OMB shows a producerRate of 10 000 000 or more as "max-rate": like 0, as fast as possible.
        double perProducer = workload.ProducerRate >= OmbWorkload.MaxRate ? 0 : workload.ProducerRate / producers;
        var producing = new List<Task<LoadResult>>();
        for (int topic = 0; topic < workload.Topics; topic++)
        {
            for (int p = 0; p < workload.ProducersPerTopic; p++)
            {
                producing.Add(ProduceAsync(topic, p, perProducer));
            }
        }

        var results = await Task.WhenAll(producing);
        long stopped = Stopwatch.GetTimestamp();
        Volatile.Write(ref producersDone, true);
        double measured = Math.Max(Latency.ToMs(Math.Min(stopped, _end) - _warmupEnd) / 1000, 1e-6);
        long publishedTotal = _published.Sum();
        long backlog = (publishedTotal * workload.SubscriptionsPerTopic) - Interlocked.Read(ref _consumedTotal);

        // Drain: wait until every subscription has every published message, or no progress for 10 s.
        long lastConsumed = -1, lastProgress = Stopwatch.GetTimestamp();
        while (workload.SubscriptionsPerTopic > 0)
        {
            if (Drained(read))
            {
                break;
            }

            long consumed = Interlocked.Read(ref _consumedTotal);
            if (consumed != lastConsumed)
            {
                lastConsumed = consumed;
                lastProgress = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetTimestamp() - lastProgress > Latency.FromSeconds(10) || consuming.IsCompleted)
            {
                break;
            }

            await Task.Delay(10, CancellationToken.None);
        }

        bool drained = workload.SubscriptionsPerTopic == 0 || Drained(read);
        await stopConsumers.CancelAsync();
        await consuming;
        double? drainSeconds = Volatile.Read(ref drainedAt) is > 0 and var at ? Math.Round(Latency.ToMs(at - consumersStart) / 1000, 3) : null;

        // An undrained backlog is reported as such (as OMB does), not counted as errors.
        long errors = results.Sum(r => r.Errors) + Interlocked.Read(ref _errors);
        string? firstError = results.Select(r => r.FirstError).FirstOrDefault(e => e is not null) ?? _firstError;
        double bytes = payloads.Average(p => p.Length);
        static double R(double ms) => BenchSummary.Round(ms);
        return new OmbSummary
        {
            Workload = workload.Name ?? "(unnamed)",
            Target = target,
            Logs = logs.Count,
            Producers = producers,
            Consumers = consumers,
            Seconds = Math.Round(measured, 3),
            MessagesPublished = Interlocked.Read(ref _publishedMeasured),
            MessagesConsumed = Interlocked.Read(ref _consumedMeasured),
            PublishRatePerSecond = Math.Round(_publishedMeasured / measured, 1),
            PublishMegabytesPerSecond = Math.Round(_publishedMeasured * bytes / measured / 1e6, 3),
            ConsumeRatePerSecond = Math.Round(_consumedMeasured / measured, 1),
            ConsumeMegabytesPerSecond = Math.Round(_consumedMeasured * bytes / measured / 1e6, 3),
            Backlog = Math.Max(0, backlog),
            BacklogDrained = drained,
            BacklogDrainSeconds = drainSeconds,
            PublishLatencyAvgMs = R(_publish.MeanMs()),
            PublishP50Ms = R(_publish.PercentileMs(50)),
            PublishP75Ms = R(_publish.PercentileMs(75)),
            PublishP95Ms = R(_publish.PercentileMs(95)),
            PublishP99Ms = R(_publish.PercentileMs(99)),
            PublishP999Ms = R(_publish.PercentileMs(99.9)),
            PublishP9999Ms = R(_publish.PercentileMs(99.99)),
            PublishMaxMs = R(_publish.MaxMs()),
            PublishDelayP50Ms = R(_delay.PercentileMs(50)),
            PublishDelayP99Ms = R(_delay.PercentileMs(99)),
            PublishDelayMaxMs = R(_delay.MaxMs()),
            PublishFromIntendedP99Ms = R(_fromIntended.PercentileMs(99)),
            EndToEndAvgMs = R(_endToEnd.MeanMs()),
            EndToEndP50Ms = R(_endToEnd.PercentileMs(50)),
            EndToEndP75Ms = R(_endToEnd.PercentileMs(75)),
            EndToEndP95Ms = R(_endToEnd.PercentileMs(95)),
            EndToEndP99Ms = R(_endToEnd.PercentileMs(99)),
            EndToEndP999Ms = R(_endToEnd.PercentileMs(99.9)),
            EndToEndP9999Ms = R(_endToEnd.PercentileMs(99.99)),
            EndToEndMaxMs = R(_endToEnd.MaxMs()),
            Errors = errors,
            FirstError = firstError,
        };
    }

    private bool Drained(long[,] read)
    {
        for (int s = 0; s < read.GetLength(0); s++)
        {
            for (int log = 0; log < logs.Count; log++)
            {
                if (Volatile.Read(ref read[s, log]) < Volatile.Read(ref _published[log]))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>One producer of a topic: paced (or as fast as possible), messages spread over the topic's partitions.</summary>
    private Task<LoadResult> ProduceAsync(int topic, int producer, double rate)
    {
        var settings = new LoadSettings(outstanding, 1, rate, warmupSeconds, seconds, null);
        long offset = producer;
        return Task.Run(() => LoadEngine.RunAsync(settings, async (index, due) =>
        {
            int partition = workload.KeyDistributor == "RANDOM_NANO" ? Random.Shared.Next(Partitions) : (int)((index + offset) % Partitions);
            int log = (topic * Partitions) + partition;
            byte[] source = payloads[index % payloads.Length];
            byte[] payload = GC.AllocateUninitializedArray<byte>(source.Length);
            source.CopyTo(payload, 0);
            long sent = Stopwatch.GetTimestamp();
            BinaryPrimitives.WriteInt64LittleEndian(payload, sent);
            var write = logs[log].WriteAsync(payload);
            Interlocked.Add(ref _publishedBytes, payload.Length);
            await write;
            long acked = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _published[log]);
            Interlocked.Increment(ref _publishedInterval);
            // As OMB: latencies of the messages sent in the measured window (a producer behind its rate shows in the delay).
            if (sent >= _warmupEnd && sent < _end)
            {
                _publish.Record(acked - sent);
                _delay.Record(sent - due);
                _fromIntended.Record(acked - due);
            }

            if (acked >= _warmupEnd && acked < _end)
            {
                Interlocked.Increment(ref _publishedMeasured);
            }

            return 0;
        }, new Latency(), cancellationToken), CancellationToken.None);
    }

    /// <summary>One subscription's reader of one partition (its consumer is the one the partition is assigned to).</summary>
    private async Task ConsumeAsync(int subscription, int log, long[,] read, CancellationToken stop)
    {
        bool first = true;
        try
        {
            await foreach (var record in logs[log].ReadAsync(_from[log], stop))
            {
                if (first)
                {
                    first = false;
                    continue;
                }

                long now = Stopwatch.GetTimestamp();
                long sent = BinaryPrimitives.ReadInt64LittleEndian(record.Payload.Span);
                Interlocked.Increment(ref read[subscription, log]);
                Interlocked.Increment(ref _consumedTotal);
                Interlocked.Increment(ref _consumedInterval);
                if (sent >= _warmupEnd && sent < _end)
                {
                    _endToEnd.Record(now - sent);
                }

                if (now >= _warmupEnd && now < _end)
                {
                    Interlocked.Increment(ref _consumedMeasured);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _errors);
            Interlocked.CompareExchange(ref _firstError, $"consumer of subscription {subscription}, log {logs[log].Name}: {e.Message}", null);
        }
    }
}
