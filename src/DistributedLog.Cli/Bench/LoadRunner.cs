using System.Diagnostics;
using DistributedLog.Cli.Commands;
using HdrHistogram;

namespace DistributedLog.Cli.Bench;

/// <summary>Results of a <c>dlog bench</c> run.</summary>
internal sealed record BenchReport(string Target, int Outstanding, int PayloadBytes, double Seconds, long Operations, double OperationsPerSecond,
    double MegabytesPerSecond, long Errors, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs,
    double AllocatedBytesPerOperation, int Gen0Collections, int Gen2Collections);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>
/// Drives an operation with a fixed number in flight for a fixed time (after a 2 s warm-up) and records each
/// operation's latency in an HdrHistogram.
/// </summary>
internal static class LoadRunner
{
    /// <summary>One operation: returns false when it failed.</summary>
    public delegate ValueTask<bool> Operation(int worker);

    public static async Task<BenchReport> RunAsync(string target, int inflight, int payloadBytes, TimeSpan duration, Operation operation,
        CancellationToken cancellationToken)
    {
        long errors = 0, measured = 0;
        var histogram = new LongHistogram(TimeStamp.Minutes(1), 3);
        long warmupEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
        long end = warmupEnd + (long)(duration.TotalSeconds * Stopwatch.Frequency);

        async Task Worker(int worker)
        {
            var recorder = new LongHistogram(TimeStamp.Minutes(1), 3);
            long count = 0;
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                if (start >= end || cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                bool ok = await operation(worker);
                long stop = Stopwatch.GetTimestamp();
                if (!ok)
                {
                    Interlocked.Increment(ref errors);
                }
                else if (start >= warmupEnd)
                {
                    recorder.RecordValue(stop - start);
                    count++;
                }
            }

            lock (histogram)
            {
                histogram.Add(recorder);
                measured += count;
            }
        }

        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        int gen0Before = GC.CollectionCount(0), gen2Before = GC.CollectionCount(2);
        await Task.WhenAll(Enumerable.Range(0, inflight).Select(w => Task.Run(() => Worker(w), cancellationToken)));
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
        double seconds = duration.TotalSeconds;
        double ToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        return new BenchReport(target, inflight, payloadBytes, seconds, measured, measured / seconds, measured * (double)payloadBytes / seconds / 1e6, errors,
            ToMs(histogram.GetValueAtPercentile(50)), ToMs(histogram.GetValueAtPercentile(90)), ToMs(histogram.GetValueAtPercentile(99)),
            ToMs(histogram.GetValueAtPercentile(99.9)), ToMs(histogram.GetMaxValue()),
            measured + errors == 0 ? 0 : allocated / (double)(measured + errors), GC.CollectionCount(0) - gen0Before, GC.CollectionCount(2) - gen2Before);
    }

    public static void Print(BenchReport report, bool json, string? note = null)
    {
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(report, BenchJson.Default.BenchReport));
            return;
        }

        Console.WriteLine($"{report.Target}: {report.Outstanding} outstanding, {report.PayloadBytes} B payload, {report.Seconds:F1} s");
        Console.WriteLine($"  {report.OperationsPerSecond:N0} ops/s, {report.MegabytesPerSecond:F1} MB/s of payload, errors {report.Errors}");
        Console.WriteLine($"  latency ms: p50 {report.P50Ms:F3}  p90 {report.P90Ms:F3}  p99 {report.P99Ms:F3}  p99.9 {report.P999Ms:F3}  max {report.MaxMs:F3}");
        Console.WriteLine($"  this process: {report.AllocatedBytesPerOperation:F0} B allocated per op (incl. warm-up), GCs gen0 {report.Gen0Collections} gen2 {report.Gen2Collections}{note}");
    }
}
