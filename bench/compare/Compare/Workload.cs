namespace DistributedLog.Compare;

/// <summary>One row of the comparison: records of <see cref="Size"/> bytes with <see cref="Outstanding"/> in flight.</summary>
internal sealed record Workload(string Id, string Title, int Outstanding, int Size)
{
    /// <summary>The workloads of issue 11's table, in its order.</summary>
    public static readonly IReadOnlyList<Workload> All =
    [
        new("w64x100", "64 outstanding, 100 B", 64, 100),
        new("w64x1k", "64 outstanding, 1 KiB", 64, 1024),
        new("w1x100", "1 outstanding, 100 B", 1, 100),
    ];
}

/// <summary>The figures of one system on one workload (one JSON line in the results file).</summary>
internal sealed record RunResult(
    string System,
    string Workload,
    int Outstanding,
    int Size,
    double Seconds,
    long Operations,
    double OperationsPerSecond,
    long Errors,
    double P50Ms,
    double P90Ms,
    double P99Ms,
    double P999Ms,
    double MaxMs,
    double LoadAverage,
    string? FirstError);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RunResult))]
internal sealed partial class ResultJson : System.Text.Json.Serialization.JsonSerializerContext;
