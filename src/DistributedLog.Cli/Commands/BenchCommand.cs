using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using HdrHistogram;

namespace DistributedLog.Cli.Commands;

/// <summary><c>dlog bench …</c>: end-to-end load generators.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure throughput and latency end to end.");
        bench.Subcommands.Add(CreateBookieBench());
        return bench;
    }

    private static Command CreateBookieBench()
    {
        var bookie = new Option<string?>("--bookie") { Description = "Bookie to load (host:port). Without it, an in-process bookie is started on --data." };
        var data = new Option<DirectoryInfo?>("--data") { Description = "Data directory for the in-process bookie (default: a temporary directory, removed after)." };
        var outstanding = new Option<int>("--outstanding") { Description = "Adds in flight at once.", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--size") { Description = "Payload bytes per entry.", DefaultValueFactory = _ => 100 };
        var seconds = new Option<double>("--seconds") { Description = "How long to measure (after a 2 s warm-up).", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the results." };
        var command = new Command("bookie", "Add entries to one bookie with a fixed number in flight; report adds/s and latency percentiles.")
        {
            bookie, data, outstanding, size, seconds, json,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            int inflight = result.GetValue(outstanding);
            int payloadSize = result.GetValue(size);
            double duration = result.GetValue(seconds);
            if (inflight < 1 || payloadSize < 0 || payloadSize > PackagedEntry.MaxPayloadSize || duration <= 0)
            {
                throw new ArgumentException($"--outstanding must be ≥ 1, --size within 0..{PackagedEntry.MaxPayloadSize}, --seconds > 0.");
            }

            string? target = result.GetValue(bookie);
            string? temp = null;
            BookieHost? host = null;
            if (target is null)
            {
                string dir = result.GetValue(data)?.FullName ?? (temp = Path.Combine(Path.GetTempPath(), "dlog-bench-" + Guid.NewGuid().ToString("N")));
                host = await BookieHost.StartAsync(new BookieHostOptions { DataDirectory = dir, Port = 0, MinFreeDiskBytes = 0 }, cancellationToken: cancellationToken);
                target = host.BookieId;
            }

            try
            {
                var report = await RunAsync(target, inflight, payloadSize, TimeSpan.FromSeconds(duration), cancellationToken);
                if (result.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(report, BenchJson.Default.BookieBenchReport));
                }
                else
                {
                    Console.WriteLine($"bookie {target}: {inflight} outstanding, {payloadSize} B payload, {report.Seconds:F1} s");
                    Console.WriteLine($"  {report.AddsPerSecond:N0} adds/s, {report.MegabytesPerSecond:F1} MB/s, errors {report.Errors}");
                    Console.WriteLine($"  latency ms: p50 {report.P50Ms:F3}  p90 {report.P90Ms:F3}  p99 {report.P99Ms:F3}  p99.9 {report.P999Ms:F3}  max {report.MaxMs:F3}");
                    Console.WriteLine($"  this process: {report.AllocatedBytesPerAdd:F0} B allocated per add (including warm-up), GCs gen0 {report.Gen0Collections} gen2 {report.Gen2Collections}"
                        + (host is null ? "" : " — bookie in-process: client and server together"));
                }

                return report.Errors == 0 ? 0 : 1;
            }
            finally
            {
                if (host is not null)
                {
                    await host.DisposeAsync();
                }

                if (temp is not null)
                {
                    Directory.Delete(temp, recursive: true);
                }
            }
        }));
        return command;
    }

    private static async Task<BookieBenchReport> RunAsync(string bookieId, int inflight, int payloadSize, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using var client = new BookieClient();
        var ping = await client.PingAsync(bookieId, cancellationToken);
        if (ping.Status != StatusCode.Success)
        {
            throw new DlException(ping.Status, $"Bookie {bookieId} does not answer ({ping.Status}).");
        }

        long ledgerId = Random.Shared.NextInt64(1, long.MaxValue / 2);
        byte[] key = new byte[20];
        Random.Shared.NextBytes(key);
        byte[] payload = new byte[payloadSize];
        Random.Shared.NextBytes(payload);
        long nextEntry = -1;
        long errors = 0;
        var histogram = new LongHistogram(TimeStamp.Minutes(1), 3);
        long warmupEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
        long end = warmupEnd + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long measured = 0;

        async Task Worker()
        {
            byte[] entry = new byte[PackagedEntry.SizeOf(payloadSize)];
            var recorder = new LongHistogram(TimeStamp.Minutes(1), 3);
            long count = 0;
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                if (start >= end || cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                long entryId = Interlocked.Increment(ref nextEntry);
                PackagedEntry.Write(entry, ledgerId, entryId, entryId - inflight - 1, 0, payload);
                var added = await client.AddEntryAsync(bookieId, key, entry, cancellationToken: cancellationToken);
                long stop = Stopwatch.GetTimestamp();
                if (added.Status != StatusCode.Success)
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
        await Task.WhenAll(Enumerable.Range(0, inflight).Select(_ => Task.Run(Worker, cancellationToken)));
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
        int gen0 = GC.CollectionCount(0) - gen0Before, gen2 = GC.CollectionCount(2) - gen2Before;
        double seconds = duration.TotalSeconds;
        double ToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        return new BookieBenchReport(bookieId, inflight, payloadSize, seconds, measured, measured / seconds,
            measured * (double)(payloadSize + PackagedEntry.HeaderSize) / seconds / 1e6, errors,
            ToMs(histogram.GetValueAtPercentile(50)), ToMs(histogram.GetValueAtPercentile(90)), ToMs(histogram.GetValueAtPercentile(99)),
            ToMs(histogram.GetValueAtPercentile(99.9)), ToMs(histogram.GetMaxValue()),
            measured == 0 ? 0 : allocated / (double)(measured + errors), gen0, gen2);
    }
}

/// <summary>Results of <c>dlog bench bookie</c>.</summary>
internal sealed record BookieBenchReport(string Bookie, int Outstanding, int PayloadBytes, double Seconds, long Adds, double AddsPerSecond,
    double MegabytesPerSecond, long Errors, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs,
    double AllocatedBytesPerAdd, int Gen0Collections, int Gen2Collections);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(BookieBenchReport))]
internal sealed partial class BenchJson : System.Text.Json.Serialization.JsonSerializerContext;
