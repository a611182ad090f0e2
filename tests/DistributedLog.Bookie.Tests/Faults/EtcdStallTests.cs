using System.Diagnostics;
using System.Text;
using DistributedLog.Bookie.Registration;
using DistributedLog.Metadata;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// etcd freezes (SIGSTOP) for longer than the registration leases, then resumes (SIGCONT): bookie and proxy processes
/// must register again by themselves, and a ledger write must succeed afterwards (issue 9, section 4: they used to stay
/// unregistered for good after a 20 s stall).
/// </summary>
public sealed class EtcdStallTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Bookies_and_a_proxy_register_again_after_etcd_stalls_longer_than_their_leases()
    {
        await using var etcd = new EtcdServerScope();
        await etcd.Server.StartAsync();
        await using var cluster = await ProcessCluster.StartAsync(3, etcd.Server);
        await cluster.StartProxiesAsync(1);
        string proxiesPrefix = "dl/default/proxies/";
        var before = await LeasesAsync(cluster.Store, BookieKeys.AvailablePrefix);
        Assert.Equal(3, before.Count);
        long proxyLeaseBefore = (await LeasesAsync(cluster.Store, proxiesPrefix)).Values.Single();

        etcd.Server.Pause();
        try
        {
            // Longer than the 5 s bookie and 10 s proxy leases, and than the HTTP/2 keep-alive ping delay + timeout (15 s).
            await Task.Delay(TimeSpan.FromSeconds(20));
        }
        finally
        {
            etcd.Server.Resume();
        }

        var clock = Stopwatch.StartNew();
        Dictionary<string, long> after = [];
        long proxyLeaseAfter = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(45))
        {
            try
            {
                after = await LeasesAsync(cluster.Store, BookieKeys.AvailablePrefix);
                proxyLeaseAfter = (await LeasesAsync(cluster.Store, proxiesPrefix)).Values.SingleOrDefault();
                if (after.Count == 3 && after.All(a => before[a.Key] != a.Value) && proxyLeaseAfter != 0 && proxyLeaseAfter != proxyLeaseBefore)
                {
                    break;
                }
            }
            catch (MetadataStoreException)
            {
                // The test's own store is catching up after the stall too.
            }

            await Task.Delay(250);
        }

        output.WriteLine($"re-registered after {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", after.Select(a => $"{a.Key}={a.Value}"))}; proxy lease {proxyLeaseAfter}");
        string logs = string.Join("\n---\n", cluster.Bookies.Select(b => b.Output).Append(cluster.Proxies[0].Output));
        Assert.True(after.Count == 3 && after.All(a => before[a.Key] != a.Value), $"the bookies did not register again under new leases:\n{logs}");
        Assert.True(proxyLeaseAfter != 0 && proxyLeaseAfter != proxyLeaseBefore, $"the proxy did not register again under a new lease:\n{logs}");

        await cluster.Registry.WaitForBookiesAsync(3, TimeSpan.FromSeconds(20));
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i, await writer.AddEntryAsync(Encoding.UTF8.GetBytes($"after the stall {i}")));
        }

        await writer.CloseAsync();
        Assert.All(cluster.Bookies, b => Assert.True(b.IsRunning, b.Output));
    }

    private static async Task<Dictionary<string, long>> LeasesAsync(IMetadataStore store, string prefix) =>
        (await store.ListAsync(prefix)).ToDictionary(v => v.Key[prefix.Length..], v => v.LeaseId);

    /// <summary>An etcd of this test's own (it is frozen, so it must not be shared).</summary>
    private sealed class EtcdServerScope : IAsyncDisposable
    {
        public EtcdServer Server { get; } = new();

        public ValueTask DisposeAsync() => new(Server.DisposeAsync());
    }
}
