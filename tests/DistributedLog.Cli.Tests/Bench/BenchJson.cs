using System.Reflection;
using System.Text.Json;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Bench;

/// <summary>Checks shared by the <c>dlog bench</c> tests: the one JSON summary object and its fields.</summary>
internal static class BenchJson
{
    public static string RepositoryRoot =>
        typeof(BenchJson).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    public static string Workload(string file) => Path.Combine(RepositoryRoot, "bench", "omb-workloads", file);

    /// <summary>The command succeeded and printed exactly one JSON object (no progress line: output is redirected).</summary>
    public static JsonElement Summary(DlogResult result)
    {
        CliAssert.Succeeded(result);
        Assert.True(result.Lines.Count == 1, $"expected one line of JSON, got {result}");
        using var json = CliAssert.Parse(result.Lines[0]);
        return json.RootElement.Clone();
    }

    /// <summary>
    /// The summary fields <c>dlog bench</c> promises are there and sane: records measured, no errors, rates above zero,
    /// percentiles in order.
    /// </summary>
    public static void Sane(JsonElement summary, long minRecords = 1)
    {
        string text = summary.GetRawText();
        long records = summary.GetProperty("records").GetInt64();
        Assert.True(records >= minRecords, $"expected at least {minRecords} records: {text}");
        Assert.Equal(0, summary.GetProperty("errors").GetInt64());
        Assert.True(summary.GetProperty("operationsPerSecond").GetDouble() > 0, text);
        Assert.True(summary.GetProperty("megabytesPerSecond").GetDouble() >= 0, text);
        double p50 = Ms(summary, "p50Ms"), p90 = Ms(summary, "p90Ms"), p99 = Ms(summary, "p99Ms"), p999 = Ms(summary, "p999Ms"), max = Ms(summary, "maxMs");
        Assert.True(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max, $"percentiles out of order: {text}");
        Assert.True(max > 0, $"no latency recorded: {text}");
    }

    public static double Ms(JsonElement summary, string field)
    {
        double value = summary.GetProperty(field).GetDouble();
        Assert.True(value >= 0 && double.IsFinite(value), $"{field} = {value}");
        return value;
    }
}
