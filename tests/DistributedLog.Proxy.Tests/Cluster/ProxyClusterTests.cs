using System.Text;
using DistributedLog.Client;
using DistributedLog.Client.Writes;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Proxy.Tests.Cluster;

/// <summary>
/// The service tier as a real cluster of processes on loopback: etcd, four <c>dlog bookie</c> processes and two
/// <c>dlog proxy</c> processes, driven through the client; proxies and bookies are SIGKILLed.
/// </summary>
public sealed class ProxyClusterTests(ITestOutputHelper output)
{
    private const string OwnershipTtlSeconds = "2";

    private static async Task<ProcessCluster> StartAsync()
    {
        var cluster = await ProcessCluster.StartAsync(4);
        try
        {
            await cluster.StartProxiesAsync(2, "--ownership-ttl-seconds", OwnershipTtlSeconds, "--admin-port", "-1");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static DistributedLogClient Client(bool discover, params string[] endpoints) => DistributedLogClient.Create(new DistributedLogClientOptions
    {
        Endpoints = endpoints,
        DiscoverProxies = discover,
        RetryBudget = TimeSpan.FromSeconds(30),
    });

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Reads the whole log and checks it against the acknowledged writes: each exactly once, in acknowledged order.</summary>
    private static async Task<List<LogRecordWithDlsn>> VerifyAsync(DistributedLogClient client, string log, IReadOnlyList<(string Payload, Dlsn Dlsn)> acknowledged)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var records = new List<LogRecordWithDlsn>();
        await foreach (var record in client.ReadAsync(log, cancellationToken: timeout.Token))
        {
            records.Add(record);
        }

        var payloads = records.Select(r => Encoding.UTF8.GetString(r.Payload.Span)).ToList();
        var duplicates = payloads.GroupBy(p => p).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"records read more than once: {string.Join(", ", duplicates.Take(5))}");
        for (int i = 1; i < records.Count; i++)
        {
            Assert.True(records[i].Dlsn > records[i - 1].Dlsn, $"read order broken at {i}");
            Assert.Equal(records[i - 1].SequenceId + 1, records[i].SequenceId);
        }

        var byPayload = records.ToDictionary(r => Encoding.UTF8.GetString(r.Payload.Span), r => r.Dlsn);
        foreach (var (payload, dlsn) in acknowledged)
        {
            Assert.True(byPayload.TryGetValue(payload, out var read), $"acknowledged record {payload} ({dlsn}) was not read back");
            Assert.Equal(dlsn, read);
        }

        for (int i = 1; i < acknowledged.Count; i++)
        {
            Assert.True(acknowledged[i].Dlsn > acknowledged[i - 1].Dlsn, $"acknowledgements out of order at {i}");
        }

        return records;
    }

    [Fact]
    public async Task WritesThroughEitherProxyReachTheOwnerAndReadersSeeOneOrder()
    {
        await using var cluster = await StartAsync();
        await using var first = Client(discover: false, cluster.Proxies[0].Endpoint);
        await using var second = Client(discover: false, cluster.Proxies[1].Endpoint);
        await first.CreateLogAsync("one-order");

        var acknowledged = new List<(string, Dlsn)>();
        for (int i = 0; i < 100; i++)
        {
            string payload = $"unary-{i}";
            acknowledged.Add((payload, (await (i % 2 == 0 ? first : second).WriteAsync("one-order", Bytes(payload))).Dlsn));
        }

        // Both clients stream at once: one owner orders them.
        async Task<List<(string, Dlsn)>> StreamAsync(DistributedLogClient client, string prefix)
        {
            await using var stream = client.OpenWriteStream("one-order");
            var writes = Enumerable.Range(0, 1000).Select(i => (Payload: $"{prefix}-{i}", Write: stream.WriteAsync(Bytes($"{prefix}-{i}")))).ToList();
            var acks = new List<(string, Dlsn)>();
            foreach (var (payload, write) in writes)
            {
                acks.Add((payload, (await write).Dlsn));
            }

            return acks;
        }

        var streamed = await Task.WhenAll(StreamAsync(first, "first"), StreamAsync(second, "second"));
        var records = await VerifyAsync(first, "one-order", acknowledged);
        Assert.Equal(2100, records.Count);
        foreach (var acks in streamed)
        {
            await VerifyAsync(second, "one-order", acks);
        }

        string? owner = await second.GetOwnerAsync("one-order");
        Assert.Contains(owner, cluster.Proxies.Select(p => p.Endpoint));

        // A client can also find the proxies through their registrations in the metadata store.
        await using var discovered = DistributedLogClient.Create(new DistributedLogClientOptions { MetadataUri = cluster.MetadataUri });
        var viaMetadata = await discovered.WriteAsync("one-order", Bytes("discovered"));
        Assert.Equal(cluster.Proxies.Select(p => p.Endpoint).Order(StringComparer.Ordinal), discovered.KnownProxies);
        Assert.True(viaMetadata.Dlsn > records[^1].Dlsn);

        // A write stream as a fresh client's first request also finds the proxies through the metadata store.
        await using var streaming = DistributedLogClient.Create(new DistributedLogClientOptions { MetadataUri = cluster.MetadataUri });
        await using var stream = streaming.OpenWriteStream("one-order");
        Assert.True((await stream.WriteAsync(Bytes("streamed after discovery"))).Dlsn > viaMetadata.Dlsn);
    }

    [Fact]
    public async Task KillingTheOwningProxyMidStreamMovesTheLogWithoutLosingOrRepeatingAcknowledgedRecords()
    {
        await using var cluster = await StartAsync();
        await using var client = Client(discover: true, cluster.Proxies[0].Endpoint);
        await client.CreateLogAsync("failover");
        var acknowledged = new List<(string, Dlsn)>();
        int failed = 0;
        int next = 0;
        await using var stream = client.OpenWriteStream("failover");

        async Task WriteBatchAsync()
        {
            var batch = Enumerable.Range(0, 200).Select(_ => $"w-{next++}").Select(p => (Payload: p, Write: stream.WriteAsync(Bytes(p)))).ToList();
            foreach (var (payload, write) in batch)
            {
                try
                {
                    acknowledged.Add((payload, (await write).Dlsn));
                }
                catch (DlException e) when (e.Code is StatusCode.WriteException or StatusCode.WriteCancelledException or StatusCode.ServiceUnavailable
                    or StatusCode.LockingException or StatusCode.StreamNotReady or StatusCode.Found)
                {
                    failed++;
                }
            }
        }

        while (acknowledged.Count < 2000)
        {
            await WriteBatchAsync();
        }

        string owner = (await client.GetOwnerAsync("failover"))!;
        var killing = cluster.Proxy(owner).KillAsync();
        int before = acknowledged.Count;

        // Once the dead owner's lease expired, a read through the other proxy sees every acknowledged record, even
        // those the dead writer's LAC did not cover yet (the proxy recovers the abandoned segment before reading).
        await killing;
        using (var expiry = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (await client.GetOwnerAsync("failover", expiry.Token) is not null)
            {
                await Task.Delay(100, expiry.Token);
            }
        }

        await VerifyAsync(client, "failover", acknowledged);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (acknowledged.Count < before + 2000)
        {
            deadline.Token.ThrowIfCancellationRequested();
            await WriteBatchAsync();
        }

        await killing;
        string newOwner = (await client.GetOwnerAsync("failover"))!;
        output.WriteLine($"owner {owner} killed after {before} acknowledged; {failed} writes failed; new owner {newOwner}; {acknowledged.Count} acknowledged");
        Assert.NotEqual(owner, newOwner);
        var records = await VerifyAsync(client, "failover", acknowledged);
        Assert.True(records.Count <= next);
    }

    [Fact]
    public async Task KillingABookieMidStreamChangesTheEnsembleAndWritesCarryOn()
    {
        await using var cluster = await StartAsync();
        await using var client = Client(discover: true, cluster.Proxies[1].Endpoint);
        await client.CreateLogAsync("ensemble-change");
        await using var stream = client.OpenWriteStream("ensemble-change", new LogWriteStreamOptions { MaxInFlight = 1024 });
        var writes = new List<(string Payload, Task<LogWriteResult> Write)>();
        for (int i = 0; i < 6000; i++)
        {
            string payload = $"e-{i}";
            writes.Add((payload, stream.WriteAsync(Bytes(payload))));
            if (i == 2000)
            {
                await writes[^1].Write;
                var segment = (await client.DescribeLogAsync("ensemble-change")).Segments[^1];
                var metadata = (await cluster.LedgerStore.ReadAsync(segment.LedgerId, CancellationToken.None))!.Value;
                string victim = metadata.Ensembles[^1].Bookies[0];
                output.WriteLine($"killing bookie {victim} of ledger {segment.LedgerId}");
                await cluster.Bookie(victim).KillAsync();
            }
        }

        var acknowledged = new List<(string, Dlsn)>();
        foreach (var (payload, write) in writes)
        {
            acknowledged.Add((payload, (await write).Dlsn)); // every write succeeds: the ensemble changes around the dead bookie
        }

        var records = await VerifyAsync(client, "ensemble-change", acknowledged);
        Assert.Equal(6000, records.Count);
        var last = (await client.DescribeLogAsync("ensemble-change")).Segments[^1];
        var changed = (await cluster.LedgerStore.ReadAsync(last.LedgerId, CancellationToken.None))!.Value;
        Assert.True(changed.Ensembles.Count > 1, "the ledger's ensemble should have changed");
    }

    [Fact]
    public async Task AfterEverythingIsKilledAndRestartedAllAcknowledgedRecordsAreStillThere()
    {
        await using var cluster = await StartAsync();
        var acknowledged = new List<(string, Dlsn)>();
        await using (var client = Client(discover: true, cluster.Proxies[0].Endpoint))
        {
            await client.CreateLogAsync("restart");
            await using var stream = client.OpenWriteStream("restart");
            var writes = Enumerable.Range(0, 3000).Select(i => (Payload: $"r-{i}", Write: stream.WriteAsync(Bytes($"r-{i}")))).ToList();
            foreach (var (payload, write) in writes)
            {
                acknowledged.Add((payload, (await write).Dlsn));
            }

            acknowledged.Add(("unary", (await client.WriteAsync("restart", Bytes("unary"))).Dlsn));
        }

        await Task.WhenAll(cluster.Proxies.Select(p => p.KillAsync()).Concat(cluster.Bookies.Select(b => b.KillAsync())));
        await Task.WhenAll(cluster.Bookies.Select(b => b.StartAsync()));
        await Task.WhenAll(cluster.Proxies.Select(p => p.StartAsync()));

        await using var after = Client(discover: true, cluster.Proxies[1].Endpoint);
        await VerifyAsync(after, "restart", acknowledged);

        // The log is writable again once the dead owner's lease expired (the client retries until then).
        var more = await after.WriteAsync("restart", Bytes("after-restart"));
        Assert.True(more.Dlsn > acknowledged[^1].Item2);
        acknowledged.Add(("after-restart", more.Dlsn));
        var records = await VerifyAsync(after, "restart", acknowledged);
        Assert.Equal(3002, records.Count);
    }
}
