using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Configuration;

/// <summary>
/// Server settings from flags, <c>DLOG_&lt;COMMAND&gt;_&lt;FLAG&gt;</c> variables and a <c>--config</c> file, in that
/// precedence, shown at start with secrets masked; the systemd units and example configuration in <c>deploy/</c>.
/// </summary>
public sealed class ServerConfigurationTests
{
    private static string RepositoryRoot =>
        typeof(ServerConfigurationTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static async Task<(string Ready, string Stderr)> StartBookieAsync(string[] args, Dictionary<string, string?> environment)
    {
        await using var bookie = Dlog.Start(["bookie", .. args], new DlogRunOptions { Environment = environment });
        var lines = await bookie.WaitForAsync(l => l.Any(x => x.Contains(" ready (data ", StringComparison.Ordinal)), "the ready line", TimeSpan.FromSeconds(60));
        string ready = lines.First(x => x.Contains(" ready (data ", StringComparison.Ordinal));
        var stopped = await bookie.SignalAndWaitAsync("TERM", TimeSpan.FromSeconds(30));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        return (ready, stopped.Stderr);
    }

    [Fact]
    public async Task Flags_beat_the_environment_which_beats_the_file_and_the_effective_values_are_printed()
    {
        string dir = TestEntries.TempDirectory("config");
        Directory.CreateDirectory(dir);
        int filePort = BookieProcess.FreePort(), envPort = BookieProcess.FreePort(), flagPort = BookieProcess.FreePort();
        string config = Path.Combine(dir, "dlog.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              // comments are allowed
              "bookie": { "port": {{filePort}}, "journalFileMb": 8, "write-cache-mb": 8, "min-free-mb": 0, "lostBookieDelaySeconds": 7 },
              "proxy": { "port": 1 }
            }
            """);

        var env = new Dictionary<string, string?> { ["DLOG_BOOKIE_PORT"] = Port(envPort), ["DLOG_BOOKIE_LOG_LEVEL"] = "Warning" };
        var (ready, stderr) = await StartBookieAsync(["--data", Path.Combine(dir, "a"), "--config", config], env);
        Assert.Contains($"127.0.0.1:{envPort} ready", ready);
        Assert.Contains($"port = {envPort}  (env DLOG_BOOKIE_PORT)", stderr);
        Assert.Contains($"lost-bookie-delay-seconds = 7  (config {config})", stderr);
        Assert.Contains("journal-file-mb = 8  (config", stderr);
        Assert.Contains("flush-interval-seconds = 10  (default)", stderr);
        Assert.Contains("data = ", stderr);

        // A flag beats both; DLOG_CONFIG names the file when --config is not given.
        env["DLOG_CONFIG"] = config;
        (ready, stderr) = await StartBookieAsync(["--data", Path.Combine(dir, "b"), "--port", Port(flagPort)], env);
        Assert.Contains($"127.0.0.1:{flagPort} ready", ready);
        Assert.Contains($"port = {flagPort}  (flag)", stderr);
        Assert.Contains("write-cache-mb = 8  (config", stderr);
    }

    [Fact]
    public async Task A_bad_file_or_value_is_one_line_naming_it()
    {
        string dir = TestEntries.TempDirectory("config-bad");
        Directory.CreateDirectory(dir);
        async Task<DlogResult> WithAsync(string json, params string[] more)
        {
            string path = Path.Combine(dir, $"{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(path, json);
            return await Dlog.RunAsync(["bookie", "--data", Path.Combine(dir, "d"), "--config", path, .. more]);
        }

        CliAssert.UserError(await WithAsync("""{"bookie": {"nope": 1}}"""), "bookie.nope is not an option of `dlog bookie`");
        CliAssert.UserError(await WithAsync("""{"bookies": {}}"""), "'bookies' is not a server command");
        CliAssert.UserError(await WithAsync("""{"bookie": {"port": [1]}}"""), "bookie.port must be a string, number or boolean");
        CliAssert.UserError(await WithAsync("""{"bookie": """), "cannot be read");
        CliAssert.UserError(await Dlog.RunAsync(["bookie", "--data", dir, "--config", Path.Combine(dir, "missing.json")]), "missing.json", "cannot be read");

        // A value from the file is validated as the flag would be.
        CliAssert.UserError(await WithAsync("""{"bookie": {"lost-bookie-delay-seconds": -1}}"""), "must not be negative");
    }

    [Fact]
    public async Task Credentials_in_a_metadata_uri_are_refused_in_one_line_that_does_not_echo_them()
    {
        // etcd credentials are refused for now (etcd authentication comes with step 8), but never echoed.
        var refused = await Dlog.RunAsync(["proxy", "--port", "0", "--admin-port", "-1"], new DlogRunOptions
        {
            Environment = new Dictionary<string, string?> { ["DLOG_PROXY_METADATA"] = "etcd://admin:hunter2@127.0.0.1:1/dlog" },
            Timeout = TimeSpan.FromSeconds(60),
        });
        CliAssert.UserError(refused, "etcd://admin:***@127.0.0.1:1/dlog", "not supported yet");
        Assert.DoesNotContain("hunter2", refused.Stderr + refused.Stdout);
    }

    [Fact]
    public async Task The_deploy_units_verify_and_the_example_configuration_names_only_real_flags()
    {
        string deploy = Path.Combine(RepositoryRoot, "deploy");
        if (File.Exists("/usr/bin/systemd-analyze"))
        {
            var info = new ProcessStartInfo("/usr/bin/systemd-analyze") { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add("verify");
            info.ArgumentList.Add(Path.Combine(deploy, "dlog-bookie.service"));
            info.ArgumentList.Add(Path.Combine(deploy, "dlog-proxy.service"));
            if (File.Exists("/usr/bin/etcd"))
            {
                info.ArgumentList.Add(Path.Combine(deploy, "etcd.service")); // its ExecStart must exist for verify
            }
            using var verify = Process.Start(info)!;
            string output = await verify.StandardOutput.ReadToEndAsync() + await verify.StandardError.ReadToEndAsync();
            await verify.WaitForExitAsync();
            Assert.True(verify.ExitCode == 0 && !output.Contains("dlog-", StringComparison.Ordinal) && !output.Contains("etcd.service", StringComparison.Ordinal),
                $"systemd-analyze verify: {output}");
        }

        // Every key of the example file is a flag of its command: `--help` after expansion would fail otherwise.
        foreach (string command in new[] { "bookie", "proxy" })
        {
            var help = await Dlog.RunAsync([command, "--config", Path.Combine(deploy, "dlog.json"), "--help"]);
            Assert.True(help.ExitCode == 0, help.ToString());
            Assert.Contains("--config", help.Stdout);
        }
    }
}
