using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// SIGTERM in any order, with etcd up or gone, idle or under load: every server process exits 0 within a bounded time,
/// with no stack trace and no abort (issue 9, section 2; <c>dlog bookie</c> used to throw an unhandled
/// <see cref="ObjectDisposedException"/> from its signal handler and sometimes abort with 134).
/// </summary>
public sealed partial class ShutdownTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"^\s+at \S", RegexOptions.Multiline)]
    private static partial Regex StackFrame();

    private void AssertClean(string name, int exitCode, string log)
    {
        output.WriteLine($"{name}: exit {exitCode}");
        Assert.True(exitCode == 0, $"{name} exited with {exitCode}:\n{log}");
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
        Assert.False(StackFrame().IsMatch(log), $"{name} printed a stack trace:\n{log}");
    }

    private async Task<int> StopWithinBoundAsync(Func<Task<int>> stop)
    {
        var clock = Stopwatch.StartNew();
        int code = await stop().WaitAsync(Bound);
        output.WriteLine($"stopped in {clock.Elapsed.TotalSeconds:0.0} s");
        return code;
    }

    [Fact]
    public async Task Bookies_and_a_proxy_exit_cleanly_on_sigterm_under_load_and_after_etcd_was_killed()
    {
        var etcd = new EtcdServer();
        await etcd.StartAsync();
        try
        {
            await using var cluster = await ProcessCluster.StartAsync(4, etcd);
            await cluster.StartProxiesAsync(1);
            await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
            using var stopLoad = new CancellationTokenSource();
            long acknowledged = 0;
            var load = Task.Run(async () =>
            {
                for (int i = 0; !stopLoad.IsCancellationRequested; i++)
                {
                    try
                    {
                        await writer.AddEntryAsync(Encoding.UTF8.GetBytes($"entry {i}"));
                        Interlocked.Increment(ref acknowledged);
                    }
                    catch (Exception) when (stopLoad.IsCancellationRequested || i > 0)
                    {
                        // Once bookies stop, adds fail: only the shutdown of the processes is under test.
                        await Task.Delay(10);
                    }
                }
            });

            while (Interlocked.Read(ref acknowledged) < 50)
            {
                await Task.Delay(20);
            }

            // Under load, etcd up: a bookie of the writer's ensemble.
            var first = cluster.Bookie(writer.Metadata.CurrentEnsemble[0]);
            AssertClean(first.BookieId, await StopWithinBoundAsync(() => first.StopAsync()), first.Output);

            // etcd gone: the proxy, then the other bookies (still under load), in turn.
            etcd.Kill();
            var proxy = cluster.Proxies[0];
            AssertClean(proxy.Endpoint, await StopWithinBoundAsync(proxy.StopAsync), proxy.Output);
            foreach (var bookie in cluster.Bookies.Where(b => b.IsRunning).ToList())
            {
                AssertClean(bookie.BookieId, await StopWithinBoundAsync(() => bookie.StopAsync()), bookie.Output);
            }

            await stopLoad.CancelAsync();
            await load;
        }
        finally
        {
            await etcd.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_bookie_stopped_twice_in_a_row_exits_cleanly()
    {
        // Two SIGTERMs back to back: the second arrives while the bookie stops (it used to throw from the handler).
        var etcd = new EtcdServer();
        await etcd.StartAsync();
        try
        {
            await using var bookie = new BookieProcess(TestEntries.TempDirectory("twice"), "--metadata", etcd.NewStoreUri());
            await bookie.StartAsync();
            int code = await StopWithinBoundAsync(() => bookie.StopAsync(signals: 2));
            AssertClean(bookie.BookieId, code, bookie.Output);
        }
        finally
        {
            await etcd.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_sandbox_exits_cleanly_on_sigterm_while_a_client_writes()
    {
        await using var sandbox = new SandboxProcess();
        await sandbox.StartAsync();
        var writing = sandbox.RunAsync("write", "shutdown-log", "--count", "200000", "--size", "100");
        await Task.Delay(TimeSpan.FromSeconds(2));
        int code = await StopWithinBoundAsync(() => sandbox.StopAsync());
        AssertClean("sandbox", code, sandbox.Output);
        var written = await writing;
        output.WriteLine($"the writer ended with {written.ExitCode}");
    }
}
