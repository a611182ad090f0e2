using System.Text.Json;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Cli.Tests.Chaos;

/// <summary>
/// <c>dlog chaos</c> end to end: two short runs (about 45 s of faults each) with seeds drawn at random, against a real
/// 3-member etcd cluster, 5 bookies and 2 proxies. A run passes only when the checker finds nothing. A failing seed is in
/// the test output and the failure message; rerun it with <c>dlog chaos --seed S --duration 45 --work DIR</c>.
/// </summary>
public sealed class ChaosRunTests(ITestOutputHelper output)
{
    private const int DurationSeconds = 45;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_short_chaos_run_with_a_random_seed_finds_no_violation(int run)
    {
        int seed = Random.Shared.Next();
        output.WriteLine($"chaos run {run}: seed {seed}");
        string work = Path.Combine(Path.GetTempPath(), $"dlchaos-test-{seed}");
        var result = await Dlog.RunAsync(
            ["chaos", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--duration", DurationSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--work", work, "--json"],
            new DlogRunOptions { Timeout = TimeSpan.FromMinutes(8) });
        output.WriteLine(result.Stdout);
        output.WriteLine(result.Stderr);
        string context = $"seed {seed} (rerun: dlog chaos --seed {seed} --duration {DurationSeconds} --work DIR; logs kept in {work}):\n{result}";

        var summaryLine = result.Lines.LastOrDefault(l => l.StartsWith('{'));
        Assert.True(summaryLine is not null, $"no JSON summary, {context}");
        using var summary = JsonDocument.Parse(summaryLine);
        var root = summary.RootElement;
        Assert.True(root.GetProperty("violations").GetInt32() == 0, $"violations found, {context}");
        Assert.True(result.ExitCode == 0, $"exit code {result.ExitCode}, {context}");
        Assert.Equal(seed, root.GetProperty("seed").GetInt32());

        // The run did something: writes were acknowledged, faults were injected, the cluster healed, readers read.
        Assert.True(root.GetProperty("acknowledged").GetInt32() > 100, $"too few acknowledged writes, {context}");
        Assert.True(root.GetProperty("faults").GetInt32() > 0, $"no fault injected, {context}");
        Assert.True(root.GetProperty("healSeconds").ValueKind == JsonValueKind.Number, $"not healed, {context}");
        Assert.True(root.GetProperty("records").GetInt32() >= root.GetProperty("acknowledged").GetInt32(), $"fewer records than acknowledged writes, {context}");
        Directory.Delete(work, recursive: true);
    }
}
