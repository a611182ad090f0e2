using System.Diagnostics;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>
/// <c>dlog sandbox --retention-hours</c>: the sandbox's proxy applies the retention policy by itself. Each restart
/// completes the log's segment (the stopping proxy closes its writer), so three runs give two completed segments and
/// an in-progress one; retention then removes the older completed segment and keeps the last one (DistributedLog's rule).
/// </summary>
public sealed class SandboxRetentionTests
{
    [Fact]
    public async Task The_sandbox_applies_retention_by_itself_and_keeps_the_last_completed_segment()
    {
        // Retention of about 1 s (0.0003 h), checked every 0.3 s.
        await using var sandbox = new SandboxProcess(null, "--retention-hours", "0.0003", "--retention-check-seconds", "0.3", "--bookies", "1");
        await sandbox.StartAsync();
        string log = CliAssert.NewLog("retained");
        CliAssert.Succeeded(await sandbox.RunAsync("create", log));
        CliAssert.Succeeded(await sandbox.RunWithInputAsync("a1\na2\n", "write", log, "--json"));
        Assert.Equal(0, await sandbox.StopAsync());
        await sandbox.StartAsync();
        CliAssert.Succeeded(await sandbox.RunWithInputAsync("b1\nb2\n", "write", log, "--json"));
        Assert.Equal(0, await sandbox.StopAsync());
        await sandbox.StartAsync();
        CliAssert.Succeeded(await sandbox.RunWithInputAsync("c1\n", "write", log, "--json"));

        var clock = Stopwatch.StartNew();
        string[] truncation;
        while (true)
        {
            using var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await sandbox.RunAsync("show", log, "--json")).Lines));
            truncation = [.. shown.RootElement.GetProperty("segments").EnumerateArray().Select(s => s.GetProperty("truncation").GetString()!)];
            if (truncation[0] == "Truncated" || clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                break;
            }

            await Task.Delay(300);
        }

        Assert.Equal(["Truncated", "Active", "Active"], truncation);
        Assert.Equal(["b1", "b2", "c1"], CliAssert.Records(CliAssert.Succeeded(await sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));

        // Rounds go on well past the retention age: the last completed segment stays.
        await Task.Delay(TimeSpan.FromSeconds(2));
        using var final = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await sandbox.RunAsync("show", log, "--json")).Lines));
        Assert.Equal(["Truncated", "Active", "Active"],
            final.RootElement.GetProperty("segments").EnumerateArray().Select(s => s.GetProperty("truncation").GetString()));
    }
}
