using System.Text.Json.Serialization;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// The one summary object of <c>dlog bench write|tail|catchup --json</c>: records measured, their rate and the latency
/// percentiles (what each command measures is in its <see cref="Latency"/>), errors (records that failed, and for
/// readers records not delivered).
/// </summary>
internal sealed record BenchSummary
{
    public required string Command { get; init; }

    public required string Target { get; init; }

    /// <summary>What <c>p50Ms</c>…<c>maxMs</c> measure.</summary>
    public required string Measures { get; init; }

    public required int Logs { get; init; }

    public required int Outstanding { get; init; }

    public required int Batch { get; init; }

    /// <summary>Records per second asked for (null: as fast as possible).</summary>
    public double? Rate { get; init; }

    public int? Readers { get; init; }

    public required int RecordBytes { get; init; }

    public required double Seconds { get; init; }

    public required long Records { get; init; }

    public required double OperationsPerSecond { get; init; }

    public required double MegabytesPerSecond { get; init; }

    public required long Errors { get; init; }

    public string? FirstError { get; init; }

    public required double P50Ms { get; init; }

    public required double P90Ms { get; init; }

    public required double P99Ms { get; init; }

    public required double P999Ms { get; init; }

    public required double MaxMs { get; init; }

    /// <summary><c>tail</c>: write-to-acknowledgement latency of the same records.</summary>
    public double? WriteP50Ms { get; init; }

    public double? WriteP99Ms { get; init; }

    /// <summary><c>catchup</c>: how fast the backlog was written.</summary>
    public double? WriteRecordsPerSecond { get; init; }

    public static BenchSummary From(string command, string target, string measures, int logs, int outstanding, int batch, double? rate, int recordBytes,
        long records, double seconds, long errors, string? firstError, Latency latency) => new()
        {
            Command = command,
            Target = target,
            Measures = measures,
            Logs = logs,
            Outstanding = outstanding,
            Batch = batch,
            Rate = rate,
            RecordBytes = recordBytes,
            Seconds = Math.Round(seconds, 3),
            Records = records,
            OperationsPerSecond = Math.Round(records / seconds, 1),
            MegabytesPerSecond = Math.Round(records * (double)recordBytes / seconds / 1e6, 3),
            Errors = errors,
            FirstError = firstError,
            P50Ms = Round(latency.PercentileMs(50)),
            P90Ms = Round(latency.PercentileMs(90)),
            P99Ms = Round(latency.PercentileMs(99)),
            P999Ms = Round(latency.PercentileMs(99.9)),
            MaxMs = Round(latency.MaxMs()),
        };

    public static double Round(double ms) => Math.Round(ms, 4);

    /// <summary>Prints the summary: one JSON object, or a few lines for a person.</summary>
    public void Print(bool json)
    {
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(this, BenchSummaryJson.Default.BenchSummary));
            return;
        }

        string pace = Rate is { } r ? $"at {r:N0} records/s" : "as fast as possible";
        Console.WriteLine($"dlog bench {Command}: {Target}; {Logs} log(s), {Outstanding} outstanding, batch {Batch}, {RecordBytes} B records, {pace}" +
            (Readers is { } k ? $", {k} reader(s)" : ""));
        Console.WriteLine($"  {Records:N0} records in {Seconds:F1} s: {OperationsPerSecond:N0} records/s, {MegabytesPerSecond:F1} MB/s, errors {Errors}" +
            (WriteRecordsPerSecond is { } w ? $" (backlog written at {w:N0} records/s)" : ""));
        Console.WriteLine($"  {Measures} ms: p50 {P50Ms:F3}  p90 {P90Ms:F3}  p99 {P99Ms:F3}  p99.9 {P999Ms:F3}  max {MaxMs:F3}");
        if (WriteP50Ms is { } w50)
        {
            Console.WriteLine($"  write-to-acknowledgement ms: p50 {w50:F3}  p99 {WriteP99Ms:F3}");
        }

        if (FirstError is { } error)
        {
            Console.WriteLine($"  first error: {error}");
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BenchSummary))]
[JsonSerializable(typeof(OmbSummary))]
internal sealed partial class BenchSummaryJson : JsonSerializerContext;
