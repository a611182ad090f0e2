using System.Diagnostics;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// A bookie or a proxy started while its metadata store does not answer waits for it (a warning per attempt), becomes
/// ready once it answers, and stops cleanly (exit 0) when told to stop while waiting.
/// </summary>
public sealed class StartupWithoutMetadataTests(ITestOutputHelper output)
{
    private const string Waiting = "the metadata store is not available";

    [Fact]
    public async Task A_bookie_started_while_etcd_is_frozen_registers_and_serves_once_it_thaws()
    {
        var etcd = new EtcdServer();
        await etcd.InitializeAsync();
        try
        {
            string uri = etcd.NewStoreUri();
            await using var bookie = new BookieProcess(TestEntries.TempDirectory("start-frozen"), "--metadata", uri,
                "--journal-file-mb", "8", "--write-cache-mb", "8", "--log-level", "Warning");
            etcd.Pause();
            Task started;
            try
            {
                started = bookie.StartAsync(TimeSpan.FromSeconds(90));
                await WaitForOutputAsync(() => bookie.Output, Waiting, started);
                Assert.True(bookie.IsRunning, bookie.Output);
            }
            finally
            {
                etcd.Resume();
            }

            await started;
            output.WriteLine(bookie.Output);
            Assert.DoesNotContain("   at ", bookie.Output, StringComparison.Ordinal);

            await using var store = await MetadataStores.OpenAsync(uri);
            await using var registry = await MetadataBookieRegistry.StartAsync(store);
            await registry.WaitForBookiesAsync(1, TimeSpan.FromSeconds(30));
            await using var client = new LedgerClient(new MetadataLedgerStore(store), registry);
            await using var ledger = await client.CreateLedgerAsync(1, 1, 1);
            Assert.Equal(0, await ledger.AddEntryAsync("after the thaw"u8.ToArray()));
        }
        finally
        {
            await etcd.DisposeAsync();
        }
    }

    [Fact(Skip = "Known defect (issue 9 notes): etcd writes keep landing on a frozen member, which the client's balancer does not eject, so a registration can take minutes; unskip once a member that missed a deadline is taken out of the balancer.")]
    public async Task A_bookie_and_a_proxy_start_with_one_of_three_etcd_members_frozen()
    {
        await using var etcd = await EtcdCluster.StartAsync(3);
        string uri = $"etcd://{string.Join(',', etcd.Endpoints)}/t-{Guid.NewGuid():N}";
        etcd.Pause(0);
        try
        {
            await using var bookie = new BookieProcess(TestEntries.TempDirectory("start-member-frozen"), "--metadata", uri,
                "--journal-file-mb", "8", "--write-cache-mb", "8", "--log-level", "Warning");
            await using var proxy = new ProxyProcess(uri);
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(bookie.StartAsync(TimeSpan.FromSeconds(60)), proxy.StartAsync(TimeSpan.FromSeconds(60)));
            output.WriteLine($"both ready after {clock.Elapsed.TotalSeconds:0.0} s\n{bookie.Output}\n{proxy.Output}");

            await using var store = await MetadataStores.OpenAsync(uri);
            await using var registry = await MetadataBookieRegistry.StartAsync(store);
            // A registration put or this registry's watch may land on the frozen member and wait out its deadline (or the
            // HTTP/2 keep-alive, 15 s) before failing over: generous on a loaded machine (docs/reliability.md).
            await registry.WaitForBookiesAsync(1, TimeSpan.FromSeconds(90));
            // The proxy is ready before its registration lands (it retries in the background, maybe past the frozen member).
            var registered = Stopwatch.StartNew();
            while (!(await store.ListAsync("")).Any(v => v.Key.Contains("proxies/", StringComparison.Ordinal)))
            {
                Assert.True(registered.Elapsed < TimeSpan.FromSeconds(90), "the proxy did not register within 90 s");
                await Task.Delay(250);
            }
        }
        finally
        {
            etcd.Resume(0);
        }
    }

    [Theory]
    [InlineData("bookie")]
    [InlineData("proxy")]
    public async Task A_server_told_to_stop_while_waiting_for_etcd_exits_0(string server)
    {
        // Nothing listens there: etcd is entirely unreachable.
        string uri = $"etcd://127.0.0.1:{BookieProcess.FreePort()}/t-{Guid.NewGuid():N}";
        await using var bookie = new BookieProcess(TestEntries.TempDirectory("start-unreachable"), "--metadata", uri, "--log-level", "Warning");
        await using var proxy = new ProxyProcess(uri);
        Task started = server == "bookie" ? bookie.StartAsync(TimeSpan.FromSeconds(90)) : proxy.StartAsync(TimeSpan.FromSeconds(90));
        Func<string> outputOf = server == "bookie" ? () => bookie.Output : () => proxy.Output;
        await WaitForOutputAsync(outputOf, Waiting, started);
        await WaitForOutputAsync(outputOf, "attempt 2", started);

        int code = server == "bookie" ? await bookie.StopAsync() : await proxy.StopAsync();
        output.WriteLine(outputOf());
        Assert.Equal(0, code);
        Assert.DoesNotContain("   at ", outputOf(), StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<Exception>(() => started);
    }

    private static async Task WaitForOutputAsync(Func<string> output, string text, Task started)
    {
        var clock = Stopwatch.StartNew();
        while (!output().Contains(text, StringComparison.Ordinal))
        {
            Assert.False(started.IsCompleted, $"the server became ready or exited before printing '{text}':\n{output()}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"no '{text}' within 45 s:\n{output()}");
            await Task.Delay(100);
        }
    }
}
