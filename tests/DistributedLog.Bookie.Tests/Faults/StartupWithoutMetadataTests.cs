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

    [Fact]
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
            // The start-up itself takes seconds (docs/reliability.md): a call that lands on the frozen member waits out one
            // deadline (5 s), after which the member is out of rotation; the bound leaves room for a loaded machine.
            await Task.WhenAll(bookie.StartAsync(TimeSpan.FromSeconds(45)), proxy.StartAsync(TimeSpan.FromSeconds(45)));
            output.WriteLine($"both ready after {clock.Elapsed.TotalSeconds:0.0} s");

            await using var store = await MetadataStores.OpenAsync(uri);
            await using var registry = await MetadataBookieRegistry.StartAsync(store);
            await registry.WaitForBookiesAsync(1, TimeSpan.FromSeconds(30));
            // The proxy is ready before its registration lands (it registers in the background).
            while (!(await store.ListAsync("")).Any(v => v.Key.Contains("proxies/", StringComparison.Ordinal)))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the proxy did not register within 60 s\n{proxy.Output}");
                await Task.Delay(250);
            }
            output.WriteLine($"bookie and proxy registered after {clock.Elapsed.TotalSeconds:0.0} s\n{bookie.Output}\n{proxy.Output}");
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
