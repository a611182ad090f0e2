using System.Text;
using DistributedLog.Bookie.Client;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>
/// Rack-aware placement and local reads against <c>dlog bookie --rack</c> processes registered in a real etcd, with
/// ledgers created by a <see cref="LedgerClient"/> in the test process.
/// </summary>
public sealed class RackPlacementClusterTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static Func<int, string[]> Racks(params string[] racks) => i => ["--rack", racks[i]];

    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"{ledgerId}/{entryId}");

    private static BookieNode[] Located(IReadOnlyList<string> ensemble, IBookieRegistry registry) =>
        [.. ensemble.Select(b => new BookieNode(b, registry.LocationOf(b) ?? throw new InvalidOperationException($"{b} was never registered")))];

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Two_racks_of_three_bookies_every_ensemble_and_write_set_spans_both()
    {
        var options = new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(3), MinRacksPerWriteSet = 2 };
        await using var cluster = await ProcessCluster.StartAsync(6, etcd, options, Racks("/dc/a", "/dc/a", "/dc/a", "/dc/b", "/dc/b", "/dc/b"));

        // The registry publishes each bookie's rack.
        var registered = cluster.Registry.RegisteredBookies;
        Assert.Equal(6, registered.Count);
        Assert.All(cluster.Bookies.Take(3), b => Assert.Equal(new NetworkLocation("dc", "a"), cluster.Registry.LocationOf(b.BookieId)));
        Assert.All(cluster.Bookies.Skip(3), b => Assert.Equal(new NetworkLocation("dc", "b"), cluster.Registry.LocationOf(b.BookieId)));

        int ledgers = 0;
        foreach (var (e, qw, qa, count) in new[] { (3, 3, 2, 12), (4, 2, 2, 4), (5, 3, 2, 4), (6, 3, 2, 2) })
        {
            for (int i = 0; i < count; i++)
            {
                await using var ledger = await cluster.Client.CreateLedgerAsync(e, qw, qa);
                Assert.Equal(0, await ledger.AddEntryAsync(Payload(ledger.LedgerId, 0)));
                await ledger.CloseAsync();
                var stored = (await cluster.LedgerStore.ReadAsync(ledger.LedgerId, default))!.Value;
                var ensemble = Located(stored.CurrentEnsemble, cluster.Registry);
                output.WriteLine($"E={e} Qw={qw}: {string.Join(", ", ensemble.Select(b => b.Location.Rack))}");
                Assert.Equal(2, WriteSetSpread.Of(ensemble, qw).MinRacks);
                ledgers++;
            }
        }

        Assert.Equal(22, ledgers);

        // An ensemble change follows the policy: the lost bookie of the rack that appears once is replaced from that rack.
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        for (long e = 0; e < 10; e++)
        {
            Assert.Equal(e, await writer.AddEntryAsync(Payload(writer.LedgerId, e)));
        }

        var before = Located(writer.Metadata.CurrentEnsemble, cluster.Registry);
        var lone = before.GroupBy(b => b.Location).Single(g => g.Count() == 1).Single();
        await cluster.Bookie(lone.Id).KillAsync();
        output.WriteLine($"killed {lone.Id} ({lone.Location}) of [{string.Join(", ", before.Select(b => $"{b.Id} {b.Location}"))}]");
        for (long e = 10; e < 20; e++)
        {
            Assert.Equal(e, await writer.AddEntryAsync(Payload(writer.LedgerId, e)));
        }

        await writer.CloseAsync();
        var after = Located((await cluster.LedgerStore.ReadAsync(writer.LedgerId, default))!.Value.CurrentEnsemble, cluster.Registry);
        Assert.DoesNotContain(after, b => b.Id == lone.Id);
        Assert.Equal(2, WriteSetSpread.Of(after, 3).MinRacks);
        Assert.Single(after, b => b.Location == lone.Location);
    }

    [Fact]
    public async Task A_read_only_bookie_is_never_chosen_and_min_racks_refuses_when_it_held_the_only_other_rack()
    {
        string faultFile = Path.Combine(TestEntries.TempDirectory("rack-fault"), "fault");
        Directory.CreateDirectory(Path.GetDirectoryName(faultFile)!);
        var strictOptions = new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(3), MinRacksPerWriteSet = 2 };
        await using var cluster = await ProcessCluster.StartAsync(4, etcd, strictOptions,
            i => i < 3 ? ["--rack", "/dc/a"] : ["--rack", "/dc/b", "--fault-file", faultFile]);
        try
        {
            string lone = cluster.Bookies[3].BookieId;

            // Two racks per write set: every ensemble needs the one bookie of /dc/b.
            for (int i = 0; i < 5; i++)
            {
                await using var ledger = await cluster.Client.CreateLedgerAsync(3, 3, 2);
                Assert.Contains(lone, ledger.Metadata.CurrentEnsemble);
                await ledger.CloseAsync();
            }

            // An I/O error turns it read-only; it announces so and is no longer placeable (still registered, still readable).
            await File.WriteAllTextAsync(faultFile, "EIO");
            await using (var bookies = new BookieClient())
            {
                var add = await bookies.AddEntryAsync(lone, TestEntries.Key, TestEntries.Make(999_999, 0, -1, 100));
                Assert.NotEqual(StatusCode.Success, add.Status);
            }

            await WaitUntilAsync(() => !cluster.Registry.WritableBookies.Contains(lone), "the bookie announced itself read-only");
            var registration = Assert.Single(cluster.Registry.RegisteredBookies, b => b.Id == lone);
            Assert.Equal("read-only", registration.NotPlaceableReason);
            Assert.Equal(new NetworkLocation("dc", "b"), registration.Location);

            // With two racks required, new ledgers are refused, saying why.
            var error = await Assert.ThrowsAsync<DlException>(() => cluster.Client.CreateLedgerAsync(3, 3, 2));
            Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
            Assert.Contains("only 1 rack(s): /dc/a (3)", error.Message, StringComparison.Ordinal);
            output.WriteLine(error.Message);

            // Best effort places them in the one rack left, never on the read-only bookie.
            var (client, resources) = await cluster.NewClientAsync(new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(3) });
            await using (resources)
            {
                await WaitUntilAsync(() => client.Registry.WritableBookies.Count == 3, "the second client saw the read-only bookie");
                for (int i = 0; i < 10; i++)
                {
                    await using var ledger = await client.CreateLedgerAsync(3, 3, 2);
                    Assert.DoesNotContain(lone, ledger.Metadata.CurrentEnsemble);
                    Assert.Equal(0, await ledger.AddEntryAsync(Payload(ledger.LedgerId, 0)));
                    await ledger.CloseAsync();
                }
            }

            // The CLI's --min-racks refuses the same way, in one line.
            var append = await Dlog.RunAsync(["append", "racks", "--metadata", cluster.MetadataUri, "--create", "--count", "1", "--min-racks", "2"]);
            Assert.NotEqual(0, append.ExitCode);
            var line = Assert.Single(append.ErrorLines);
            Assert.Contains("only 1 rack(s): /dc/a (3)", line, StringComparison.Ordinal);
            var badFlag = await Dlog.RunAsync(["append", "racks", "--metadata", cluster.MetadataUri, "--count", "1", "--min-racks", "0"]);
            Assert.NotEqual(0, badFlag.ExitCode);
            Assert.Contains("--min-racks must be at least 1", badFlag.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(faultFile)!, recursive: true);
        }
    }

    [Fact]
    public async Task A_proxy_spreads_segments_over_racks_and_refuses_writes_below_its_min_racks()
    {
        await using var cluster = await ProcessCluster.StartAsync(5, etcd, bookieArgs: Racks("/dc/a", "/dc/a", "/dc/a", "/dc/b", "/dc/b"));
        await cluster.StartProxiesAsync(1, "--min-racks", "2", "--rack", "/dc/a", "--request-timeout-seconds", "10");
        string endpoint = cluster.Proxies[0].Endpoint;
        string log = $"racks-{Guid.NewGuid():N}";
        var create = await Dlog.RunAsync(["create", log, "--endpoint", endpoint]);
        Assert.True(create.ExitCode == 0, create.ToString());
        var write = await Dlog.RunAsync(["write", log, "--endpoint", endpoint], new DlogRunOptions { Stdin = "one\ntwo\n" });
        Assert.True(write.ExitCode == 0, write.ToString());

        // The proxy's segment ledgers span both racks in every write set (a fresh metadata root: ids start small).
        int found = 0;
        for (long id = 0; id < 50; id++)
        {
            if (await cluster.LedgerStore.ReadAsync(id, default) is { } ledger)
            {
                Assert.Equal(2, WriteSetSpread.Of(Located(ledger.Value.CurrentEnsemble, cluster.Registry), ledger.Value.WriteQuorumSize).MinRacks);
                found++;
            }
        }

        Assert.True(found >= 1, "the proxy created no ledger");

        // Without /dc/b the proxy can neither replace a bookie (a /dc/a one is free, but would leave one rack) nor start a
        // segment: writes fail, naming the racks.
        await Task.WhenAll(cluster.Bookies.Skip(3).Select(b => b.StopAsync()));
        await WaitUntilAsync(() => cluster.Registry.WritableBookies.Count == 3, "the /dc/b bookies unregistered");
        // (A write may still be acknowledged by the two /dc/a replicas of the current ensemble, before the replacement of
        // the /dc/b one is refused; the next one fails.)
        DlogResult refused = null!;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            refused = await Dlog.RunAsync(["write", log, "--endpoint", endpoint], new DlogRunOptions { Stdin = $"after {attempt}\n" });
            output.WriteLine(refused.ToString());
            if (refused.ExitCode != 0)
            {
                break;
            }
        }

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("at least 2 racks", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bookie_with_a_malformed_rack_is_refused_at_start()
    {
        string data = TestEntries.TempDirectory("bad-rack");
        var result = await Dlog.RunAsync(["bookie", "--data", data, "--port", "0", "--rack", "rack1"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("dlog: A rack must be written /REGION/RACK with two non-empty levels (for example /default-region/default-rack); got 'rack1'.",
            Assert.Single(result.ErrorLines));
        Assert.False(Directory.Exists(data), "nothing is created for a refused bookie");
    }

    [Fact]
    public async Task Reads_go_to_the_replica_in_the_readers_rack_first()
    {
        string[] racks = ["/east/r1", "/east/r2", "/west/r3"];
        await using var cluster = await ProcessCluster.StartAsync(3, etcd, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(3) }, Racks(racks));
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        const int total = 12;
        for (long e = 0; e < total; e++)
        {
            await writer.AddEntryAsync(Payload(writer.LedgerId, e));
        }

        await writer.CloseAsync();

        // A reader in each rack, with speculative reads and bookie timeouts far away: while every other bookie is
        // frozen (SIGSTOP), each read must go to the local replica first, or it hangs and the test times out.
        for (int local = 0; local < racks.Length; local++)
        {
            var (client, resources) = await cluster.NewClientAsync(new LedgerClientOptions
            {
                Rack = racks[local],
                SpeculativeReadTimeout = TimeSpan.FromMinutes(10),
                BookieTimeout = TimeSpan.FromMinutes(10),
            });
            await using (resources)
            {
                var frozen = cluster.Bookies.Where((_, i) => i != local).ToArray();
                foreach (var bookie in frozen)
                {
                    await bookie.PauseAsync();
                }

                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    var reader = await client.OpenLedgerNoRecoveryAsync(writer.LedgerId, timeout.Token);
                    var entries = await reader.ReadAsync(0, total - 1, timeout.Token);
                    Assert.Equal(Enumerable.Range(0, total).Select(e => Payload(writer.LedgerId, e)), entries.Select(x => x.Payload.ToArray()));
                }
                finally
                {
                    foreach (var bookie in frozen)
                    {
                        await bookie.ResumeAsync();
                    }
                }
            }
        }
    }
}
