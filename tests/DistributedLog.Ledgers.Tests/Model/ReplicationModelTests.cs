using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Model;

/// <summary>
/// Model-checks the replication protocol (src/DistributedLog.Ledgers/Model/ledger.pml) with SPIN: the model as the code
/// implements it has no assertion violation in its whole (bounded) state space, and each seeded bug is caught.
/// Needs <c>spin</c> and <c>gcc</c> (test.sh installs spin).
/// </summary>
public sealed partial class ReplicationModelTests(ITestOutputHelper output)
{
    /// <summary>The bounds keep each exhaustive search to a few million states (seconds).</summary>
    [Theory]
    [InlineData("-DMAXE=2 -DMAXCHG=0 -DMAXCRASH=1")] // two entries (the second carries the first's LAC), a crash, no ensemble change
    [InlineData("-DMAXE=1 -DMAXCHG=1 -DMAXCRASH=1")] // one entry, an ensemble change racing the recovery, a crash
    public async Task The_protocol_as_implemented_violates_no_property(string bounds)
    {
        var result = await CheckAsync(bounds);
        Assert.True(result.Errors == 0, $"SPIN found a violation of the replication protocol ({bounds}):\n{result.Output}");
        Assert.DoesNotContain("Search not completed", result.Output, StringComparison.Ordinal);
        Assert.True(result.States > 10_000, $"suspiciously few states ({result.States}): the model did not run as intended\n{result.Output}");
    }

    [Theory]
    [InlineData("BUG_RECOVERY_READS_TOO_FEW")]
    [InlineData("BUG_FENCE_NOT_DURABLE")]
    [InlineData("BUG_ENSEMBLE_CHANGE_NO_WAIT")]
    public async Task A_seeded_bug_is_caught(string bug)
    {
        var result = await CheckAsync($"-DMAXE=1 -DMAXCHG=1 -DMAXCRASH=1 -D{bug}");
        Assert.True(result.Errors > 0, $"SPIN did not catch the seeded bug {bug}:\n{result.Output}");
        Assert.Contains("assertion violated", result.Output, StringComparison.Ordinal);
    }

    private sealed record SpinResult(int Errors, long States, string Output);

    private async Task<SpinResult> CheckAsync(string defines)
    {
        string spin = FindTool("spin", "install it with `apt-get install spin` (test.sh does)");
        string gcc = FindTool("gcc", "install it with `apt-get install gcc`");
        string model = Path.Combine(AppContext.BaseDirectory, "Model", "ledger.pml");
        Assert.True(File.Exists(model), $"the model {model} was not copied next to the tests");
        string work = Directory.CreateTempSubdirectory("dl-spin-").FullName;
        try
        {
            File.Copy(model, Path.Combine(work, "ledger.pml"));
            var defineArgs = defines.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            await RunAsync(work, spin, [.. defineArgs, "-a", "ledger.pml"]);
            await RunAsync(work, gcc, ["-O2", "-DSAFETY", "-DCOLLAPSE", "-DMEMLIM=1024", "-w", "-o", "pan", "pan.c"]);
            var (code, text) = await RunAsync(work, Path.Combine(work, "pan"), ["-E", "-m100000", "-w24"], check: false);
            output.WriteLine($"{defines}: exit {code}\n{text}");
            var errors = ErrorsLine().Match(text);
            var states = StatesLine().Match(text);
            Assert.True(errors.Success && states.Success, $"unexpected pan output (exit {code}):\n{text}");
            return new SpinResult(int.Parse(errors.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                long.Parse(states.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), text);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string FindTool(string name, string hint)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"`{name}` is not on the PATH: the replication model cannot be checked; {hint}.");
        return name;
    }

    private static async Task<(int Code, string Output)> RunAsync(string directory, string file, IReadOnlyList<string> arguments, bool check = true)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} did not finish within 3 minutes");
        }

        string text = await stdout + await stderr;
        if (check && process.ExitCode != 0)
        {
            Assert.Fail($"{Path.GetFileName(file)} {string.Join(' ', arguments)} failed (exit {process.ExitCode}):\n{text}");
        }

        return (process.ExitCode, text);
    }

    [GeneratedRegex(@"errors: (\d+)")]
    private static partial Regex ErrorsLine();

    [GeneratedRegex(@"(\d+) states, stored")]
    private static partial Regex StatesLine();
}
