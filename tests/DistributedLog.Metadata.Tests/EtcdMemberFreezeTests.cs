using System.Diagnostics;
using System.Text;
using DistributedLog.Metadata.Etcd;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Metadata.Tests;

/// <summary>
/// A 3-member etcd cluster with one member frozen (SIGSTOP: its sockets stay open, nothing answers): the client takes
/// that member out of rotation within seconds, so puts, gets, lease grants and keep-alives and watches keep working on
/// the other two, and it uses the member again once it thaws.
/// </summary>
public sealed class EtcdMemberFreezeTests(ITestOutputHelper output)
{
    private static readonly MetadataStoreOptions Options = new()
    {
        OperationTimeout = TimeSpan.FromSeconds(2),
        MaxReconnectBackoff = TimeSpan.FromMilliseconds(500),
    };

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Puts_gets_leases_and_watches_keep_working_while_one_of_three_members_is_frozen_and_it_is_used_again_after_it_thaws()
    {
        await using EtcdCluster etcd = await EtcdCluster.StartAsync(3);
        await using EtcdMetadataStore store = await EtcdMetadataStore.ConnectAsync(etcd.Endpoints, $"t-{Guid.NewGuid():N}", Options);
        Assert.Equal(3, store.Endpoints.All.Count);

        // Three watches and three leases created one after the other: calls go round-robin, so each member holds streams.
        var watches = new List<IMetadataWatch>();
        var leases = new List<ILease>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                watches.Add(await store.WatchAsync("w/", isPrefix: true));
                leases.Add(await store.GrantLeaseAsync(TimeSpan.FromSeconds(5)));
            }
            // Let every keep-alive stream open (the first renewal comes after a third of the TTL).
            await Task.Delay(TimeSpan.FromSeconds(2));

            EtcdEndpoint frozen = store.Endpoints.All[0];
            etcd.Pause(0);
            var clock = Stopwatch.StartNew();
            try
            {
                // The frozen member is out of rotation within seconds (a probe or a call missed its deadline).
                while (!frozen.IsQuarantined)
                {
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), "the frozen member was not taken out of rotation within 15 s");
                    await Task.Delay(100);
                }
                output.WriteLine($"frozen member out of rotation after {clock.Elapsed.TotalSeconds:0.0} s");

                // From now on every call succeeds: none lands on the frozen member and waits out its deadline.
                for (int i = 0; i < 30; i++)
                {
                    await store.PutAsync($"k/{i}", B($"value {i}"));
                    VersionedValue? read = await store.GetAsync($"k/{i}");
                    Assert.Equal($"value {i}", Encoding.UTF8.GetString(read!.Value.Span));
                }
                await using ILease fresh = await store.GrantLeaseAsync(TimeSpan.FromSeconds(5));
                await store.PutAsync("w/after-freeze", B("x"), fresh.Id);
                output.WriteLine($"30 puts and gets, a lease grant and a put under it after {clock.Elapsed.TotalSeconds:0.0} s");

                // Every watch, including the one whose stream was on the frozen member, delivers the put made after the freeze.
                foreach (IMetadataWatch watch in watches)
                {
                    using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await using IAsyncEnumerator<WatchEvent> events = watch.GetAsyncEnumerator(deadline.Token);
                    Assert.True(await events.MoveNextAsync());
                    Assert.Equal("w/after-freeze", events.Current.Key);
                }
                output.WriteLine($"every watch delivered the event after {clock.Elapsed.TotalSeconds:0.0} s");

                // Past the 5 s TTL: every lease (the ones whose keep-alive stream was on the frozen member too) is alive.
                await Task.Delay(TimeSpan.FromSeconds(6));
                Assert.All(leases, lease => Assert.False(lease.Lost.IsCancellationRequested, $"{lease} was lost"));
                Assert.False(fresh.Lost.IsCancellationRequested, "the lease granted during the freeze was lost");
                Assert.True(frozen.IsQuarantined, "the frozen member came back into rotation while frozen");
            }
            finally
            {
                etcd.Resume(0);
            }

            // Thawed: a probe answers, the member is back in rotation and calls go to it again.
            long before = frozen.Answers;
            var thaw = Stopwatch.StartNew();
            while (frozen.IsQuarantined || frozen.Answers < before + 5)
            {
                Assert.True(thaw.Elapsed < TimeSpan.FromSeconds(20), "the thawed member was not used again within 20 s");
                await store.GetAsync("k/0");
                await Task.Delay(50);
            }
            output.WriteLine($"the thawed member answered calls again after {thaw.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            foreach (ILease lease in leases)
                await lease.DisposeAsync();
            foreach (IMetadataWatch watch in watches)
                await watch.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_single_endpoint_is_never_taken_out_of_rotation()
    {
        await using EtcdCluster etcd = await EtcdCluster.StartAsync(1);
        await using EtcdMetadataStore store = await EtcdMetadataStore.ConnectAsync(etcd.Endpoints, $"t-{Guid.NewGuid():N}", Options);
        etcd.Pause(0);
        try
        {
            // A deadline is final with one endpoint: the call fails (retryably) and the endpoint stays in use.
            var failure = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () => await store.GetAsync("k"));
            Assert.True(failure.IsRetryable);
            Assert.False(store.Endpoints.All[0].IsQuarantined);
        }
        finally
        {
            etcd.Resume(0);
        }
        Assert.Null(await store.GetAsync("k"));
    }
}
