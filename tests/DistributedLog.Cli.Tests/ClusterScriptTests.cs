using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>
/// <c>scripts/cluster.sh up | status | down</c>: etcd, three <c>dlog bookie</c> and two <c>dlog proxy</c> processes on
/// loopback; <c>dlog --endpoint</c> of either proxy writes and reads the same log.
/// </summary>
public sealed class ClusterScriptTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Up_serves_writes_and_reads_through_each_proxy_then_down_stops_everything()
    {
        string dir = TestEntries.TempDirectory("cluster");
        int basePort = FreePortRange(7);
        try
        {
            var up = await ScriptAsync("up", "--dir", dir, "--base-port", basePort.ToString(CultureInfo.InvariantCulture), "--timeout", "120");
            Assert.True(up.ExitCode == 0, $"cluster.sh up failed: {up}");
            string[] proxies = await File.ReadAllLinesAsync(Path.Combine(dir, "endpoints"));
            Assert.Equal([$"http://127.0.0.1:{basePort + 5}", $"http://127.0.0.1:{basePort + 6}"], proxies);
            Assert.Equal(6, up.Lines.Count(l => l.Contains(" ready (pid ", StringComparison.Ordinal)));

            var status = await ScriptAsync("status", "--dir", dir);
            Assert.True(status.ExitCode == 0, $"cluster.sh status: {status}");
            Assert.Equal(6, status.Lines.Count(l => l.Contains("running", StringComparison.Ordinal)));
            int[] pids = [.. Directory.GetFiles(dir, "*.pid").Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture))];
            Assert.Equal(6, pids.Length);

            // Writes through either proxy reach the log's owner (the other one redirects); each reads one order.
            string log = CliAssert.NewLog("cluster");
            CliAssert.Succeeded(await Dlog.RunAsync(["create", log, "--endpoint", proxies[0]]));
            var acks = new List<WriteAck>();
            for (int round = 0; round < 2; round++)
            {
                foreach (string proxy in proxies)
                {
                    string input = string.Join('\n', Enumerable.Range(0, 3).Select(i => $"{round}-{proxy}-{i}")) + "\n";
                    acks.AddRange(CliAssert.Acks(CliAssert.Succeeded(await Dlog.RunAsync(["write", log, "--json", "--endpoint", proxy],
                        new DlogRunOptions { Stdin = input, Timeout = Generous }))));
                }
            }

            CliAssert.InOrder(acks);
            string[] expected = [.. Enumerable.Range(0, 2).SelectMany(round => proxies.SelectMany(proxy => Enumerable.Range(0, 3).Select(i => $"{round}-{proxy}-{i}")))];
            foreach (string proxy in proxies)
            {
                var records = CliAssert.Records(CliAssert.Succeeded(await Dlog.RunAsync(["read", log, "--json", "--endpoint", proxy])));
                Assert.Equal(expected, records.Select(r => r.Text));
                Assert.Equal(acks.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
                Assert.Contains(log, CliAssert.Succeeded(await Dlog.RunAsync(["list", "--endpoint", proxy])).Lines);
            }

            var down = await ScriptAsync("down", "--dir", dir);
            Assert.True(down.ExitCode == 0, $"cluster.sh down failed: {down}");
            Assert.Equal(6, down.Lines.Count(l => l.EndsWith(" stopped", StringComparison.Ordinal)));
            Assert.All(pids, pid => Assert.False(IsAlive(pid), $"pid {pid} still runs after down"));
            Assert.NotEqual(0, (await ScriptAsync("status", "--dir", dir)).ExitCode);
        }
        finally
        {
            // Whatever happened above: no process left behind, no data.
            await ScriptAsync("down", "--dir", dir, "--wipe", "--timeout", "10");
        }
    }

    private static string RepositoryRoot =>
        typeof(ClusterScriptTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    private static async Task<DlogResult> ScriptAsync(params string[] args)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(RepositoryRoot, "scripts", "cluster.sh"));
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Run the dlog built with the tests instead of building again; small bookies.
        info.Environment["DLOG_DLL"] = BookieProcess.DlogDll;
        info.Environment["BOOKIE_ARGS"] = "--journal-file-mb 8 --write-cache-mb 16 --min-free-mb 0 --log-level Warning";
        info.Environment["PROXY_ARGS"] = "--log-level Warning";
        info.Environment.Remove("DLOG_CLUSTER_DIR");
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Generous);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cluster.sh {string.Join(' ', args)} did not finish within {Generous}:\n{await stdout}\n{await stderr}");
        }

        return new DlogResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The first of <paramref name="count"/> consecutive free loopback ports, below the ephemeral range.</summary>
    private static int FreePortRange(int count)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int start = Random.Shared.Next(20_000, 30_000 - count);
            if (Enumerable.Range(start, count).All(IsFree))
            {
                return start;
            }
        }

        throw new InvalidOperationException($"No {count} consecutive free ports found.");
    }

    private static bool IsFree(int port) => DistributedLog.Bookie.Server.FreePorts.IsFree(port);

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
