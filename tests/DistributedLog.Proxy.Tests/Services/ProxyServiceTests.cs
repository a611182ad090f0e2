using System.Text;
using DistributedLog.Client;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Hosting;
using Google.Protobuf;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Record = DistributedLog.Grpc.V1.Record;

using static DistributedLog.Proxy.Tests.Services.ProxyTestRecords;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>The proxy's operations and the client's routing against two in-process proxies.</summary>
public sealed class ProxyServiceTests
{
    [Fact]
    public async Task UnaryBulkAndStreamedWritesAreReadBackInOrder()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("orders");

        var acks = new List<LogWriteResult>();
        for (int i = 0; i < 10; i++)
        {
            acks.Add(await client.WriteAsync("orders", Payload($"unary-{i}")));
        }

        var bulk = await client.WriteBulkAsync("orders", [.. Enumerable.Range(0, 10).Select(i => new LogRecord(acks[^1].TxId + 1 + i, Payload($"bulk-{i}")))]);
        foreach (var task in bulk)
        {
            acks.Add(await task);
        }

        await using (var stream = client.OpenWriteStream("orders"))
        {
            var pending = Enumerable.Range(0, 5000).Select(i => stream.WriteAsync(Payload($"stream-{i}"))).ToList();
            foreach (var task in pending)
            {
                acks.Add(await task);
            }
        }

        Assert.Equal(5020, acks.Count);
        for (int i = 1; i < acks.Count; i++)
        {
            Assert.True(acks[i].Dlsn > acks[i - 1].Dlsn, $"ack {i} ({acks[i].Dlsn}) is not after ack {i - 1} ({acks[i - 1].Dlsn})");
            Assert.True(acks[i].TxId > acks[i - 1].TxId);
        }

        var records = await ReadAllAsync(client, "orders");
        Assert.Equal(acks.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
        Assert.Equal(acks.Select(a => a.TxId), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.SequenceId));
        Assert.Equal("unary-0", Text(records[0]));
        Assert.Equal("bulk-9", Text(records[19]));
        Assert.Equal("stream-4999", Text(records[^1]));

        var description = await client.DescribeLogAsync("orders");
        Assert.Equal(5020, description.RecordCount);
        Assert.Equal(acks[^1].Dlsn, description.LastDlsn);
        Assert.Equal(acks[0].Dlsn, description.FirstDlsn);
        Assert.Equal(acks[^1].TxId, description.LastTxId);
        Assert.Single(description.Segments);
    }

    [Fact]
    public async Task RequestsForALogOwnedElsewhereAreRedirectedToItsOwner()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var viaA = proxies.Client(discover: false, proxies.A.Endpoint);
        var viaB = proxies.Client(discover: false, proxies.B.Endpoint);
        await viaA.CreateLogAsync("shared");
        var first = await viaA.WriteAsync("shared", Payload("from-a"));
        Assert.Equal(proxies.A.Endpoint, await viaB.GetOwnerAsync("shared"));

        // The raw answer of the non-owner is FOUND naming the owner …
        var raw = await proxies.Raw(proxies.B).WriteAsync(new WriteRequest { Log = "shared", Record = new Record { Payload = ByteString.CopyFromUtf8("raw") } });
        Assert.Equal((int)StatusCode.Found, raw.Header.Code);
        Assert.Equal(proxies.A.Endpoint, raw.Header.Location);

        // … which the client follows.
        var second = await viaB.WriteAsync("shared", Payload("from-b"));
        await using (var stream = viaB.OpenWriteStream("shared"))
        {
            var third = await stream.WriteAsync(Payload("streamed-from-b"));
            Assert.True(third.Dlsn > second.Dlsn);
        }

        Assert.True(second.Dlsn > first.Dlsn);
        Assert.Equal(0, proxies.B.OwnedLogs);
        Assert.Equal(["from-a", "from-b", "streamed-from-b"], (await ReadAllAsync(viaB, "shared")).Select(Text));
    }

    [Fact]
    public async Task BadInputGetsTypedErrorsAndTheProxyKeepsServing()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("strict");
        var good = await client.WriteAsync("strict", Payload("good"));

        await Assert.ThrowsAsync<LogRecordTooLongException>(() => client.WriteAsync("strict", new byte[LogRecord.MaxPayloadSize + 1]));
        await Assert.ThrowsAsync<InvalidStreamNameException>(() => client.WriteAsync("bad//name", Payload("x")));
        await Assert.ThrowsAsync<LogNotFoundException>(() => client.WriteAsync("missing", Payload("x")));
        await Assert.ThrowsAsync<LogNotFoundException>(() => client.DescribeLogAsync("missing"));
        await Assert.ThrowsAsync<LogExistsException>(() => client.CreateLogAsync("strict"));

        // A payload that does not match its checksum is refused, never written.
        string owner = (await client.GetOwnerAsync("strict"))!;
        var raw = proxies.Raw(owner == proxies.A.Endpoint ? proxies.A : proxies.B);
        var corrupt = await raw.WriteAsync(new WriteRequest { Log = "strict", Record = new Record { Payload = ByteString.CopyFromUtf8("payload"), Crc32C = 12345 } });
        Assert.Equal((int)StatusCode.ChecksumFailed, corrupt.Header.Code);
        var missingRecord = await raw.WriteAsync(new WriteRequest { Log = "strict" });
        Assert.Equal((int)StatusCode.BadRequest, missingRecord.Header.Code);
        var negative = await raw.WriteAsync(new WriteRequest { Log = "strict", Record = new Record { Txid = -1, Payload = ByteString.CopyFromUtf8("negative") } });
        Assert.IsType<TransactionIdOutOfOrderException>(negative.Header.ToException());

        var after = await client.WriteAsync("strict", Payload("after"));
        Assert.True(after.Dlsn > good.Dlsn);
        Assert.Equal(["good", "after"], (await ReadAllAsync(client, "strict")).Select(Text));
    }

    [Fact]
    public async Task LargeRecordsAreReadBackAcrossSeveralMessagesAndAnOversizedRequestIsAClientError()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("large");
        var payloads = Enumerable.Range(0, 24).Select(i => Enumerable.Repeat((byte)i, 900 * 1024).ToArray()).ToList();
        await using (var stream = client.OpenWriteStream("large"))
        {
            foreach (var write in payloads.Select(p => stream.WriteAsync(p)).ToList())
            {
                await write;
            }
        }

        // 21 MiB in all: more than one gRPC message may carry, so the proxy splits the read.
        var records = await ReadAllAsync(client, "large");
        Assert.Equal(payloads.Count, records.Count);
        for (int i = 0; i < payloads.Count; i++)
        {
            Assert.True(payloads[i].AsSpan().SequenceEqual(records[i].Payload.Span), $"record {i} differs");
        }

        // One bulk request over the proxy's message limit is refused as too large; the proxy is not taken for down.
        await Assert.ThrowsAsync<LogRecordTooLongException>(() =>
            client.WriteBulkAsync("large", [.. payloads.Select((p, i) => new LogRecord(records[^1].TxId + 1 + i, p))]));
        Assert.Equal(2, client.KnownProxies.Count);
        await client.WriteAsync("large", Payload("after"));
    }

    [Fact]
    public async Task AFailedStreamedRecordCancelsTheRestAndTheNextWriteStartsAFreshStream()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("stream-failure");
        await using var stream = client.OpenWriteStream("stream-failure");
        var before = Enumerable.Range(0, 100).Select(i => stream.WriteAsync(Payload($"before-{i}"))).ToList();
        foreach (var task in before)
        {
            await task;
        }

        var tooLarge = stream.WriteAsync(new byte[LogRecord.MaxPayloadSize + 1]);
        var later = Enumerable.Range(0, 50).Select(i => stream.WriteAsync(Payload($"later-{i}"))).ToList();
        await Assert.ThrowsAsync<LogRecordTooLongException>(() => tooLarge);
        foreach (var task in later)
        {
            await Assert.ThrowsAsync<WriteCancelledException>(() => task);
        }

        var next = await stream.WriteAsync(Payload("next"));
        var records = await ReadAllAsync(client, "stream-failure");
        Assert.Equal(101, records.Count);
        Assert.Equal("next", Text(records[^1]));
        Assert.Equal(next.Dlsn, records[^1].Dlsn);
        Assert.DoesNotContain(records, r => Text(r).StartsWith("later-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HardLimitsRejectWithOverCapacityAndMaxLogsSendsNewLogsElsewhere()
    {
        await using var proxies = await InProcessProxies.StartAsync(
            () => InProcessProxies.Options(maxLogs: 1, perLog: new RateLimitOptions { HardRequestsPerSecond = 50 }),
            () => InProcessProxies.Options(perLog: new RateLimitOptions { HardRequestsPerSecond = 50 }, perProxy: new RateLimitOptions { HardBytesPerSecond = 1000 }));
        var viaA = proxies.Client(discover: false, proxies.A.Endpoint);
        await viaA.CreateLogAsync("limited");
        await viaA.CreateLogAsync("second");
        await viaA.WriteAsync("limited", Payload("first"));
        Assert.Equal(proxies.A.Endpoint, await viaA.GetOwnerAsync("limited"));

        // 100 records in one request are over the 50/s hard limit of a log: rejected whole, nothing written.
        await Assert.ThrowsAsync<OverCapacityException>(() =>
            viaA.WriteBulkAsync("limited", [.. Enumerable.Range(0, 100).Select(i => new LogRecord(i + 1_000_000_000_000, Payload("x")))]));
        Assert.Equal(1, (await viaA.DescribeLogAsync("limited")).RecordCount);

        // The whole proxy's byte rate: B takes at most 1 000 payload bytes a second, so 20 records of 100 B are refused.
        var raw = await proxies.Raw(proxies.B).WriteBulkAsync(new WriteBulkRequest
        {
            Log = "second",
            Records = { Enumerable.Range(0, 20).Select(_ => new Record { Payload = ByteString.CopyFrom(new byte[100]) }) },
        });
        Assert.Equal((int)StatusCode.OverCapacity, raw.Header.Code);
        Assert.Contains("per-proxy", raw.Header.Message, StringComparison.Ordinal);

        // A owns its maximum of one log: a new log is refused there (TOO_MANY_STREAMS) and the client goes to B.
        var full = await proxies.Raw(proxies.A).WriteAsync(new WriteRequest { Log = "second", Record = new Record { Payload = ByteString.CopyFromUtf8("x") } });
        Assert.Equal((int)StatusCode.TooManyStreams, full.Header.Code);
        var both = proxies.Client(discover: true, proxies.A.Endpoint);
        await both.WriteAsync("second", Payload("elsewhere"));
        Assert.Equal(proxies.B.Endpoint, await both.GetOwnerAsync("second"));
    }

    [Fact]
    public async Task ReleasedAndDrainedLogsMoveToAnotherProxy()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var viaA = proxies.Client(discover: false, proxies.A.Endpoint);
        var viaB = proxies.Client(discover: false, proxies.B.Endpoint);
        await viaA.CreateLogAsync("movable");
        await viaA.CreateLogAsync("drained");
        await viaA.WriteAsync("movable", Payload("1"));
        await viaA.WriteAsync("drained", Payload("1"));

        // Release: the owner closes the writer (completing the segment) and frees the log.
        await viaB.ReleaseAsync("movable");
        Assert.Null(await viaB.GetOwnerAsync("movable"));
        var description = await viaB.DescribeLogAsync("movable");
        Assert.All(description.Segments, s => Assert.False(s.InProgress));
        var taken = await proxies.Raw(proxies.B).WriteAsync(new WriteRequest { Log = "movable", Record = new Record { Payload = ByteString.CopyFromUtf8("2") } });
        Assert.True(taken.Header.IsOk(), taken.Header.Message);
        Assert.Equal(proxies.B.Endpoint, await viaB.GetOwnerAsync("movable"));

        // Drain: a proxy that stops releases every log it owns, so others take them at once.
        await proxies.A.DisposeAsync();
        Assert.Null(await viaB.GetOwnerAsync("drained"));
        await viaB.WriteAsync("drained", Payload("2"));
        Assert.Equal(["1", "2"], (await ReadAllAsync(viaB, "drained")).Select(Text));
        Assert.Equal(["1", "2"], (await ReadAllAsync(viaB, "movable")).Select(Text));
    }

    [Fact]
    public async Task AProxyWhoseWriterFailsReleasesTheLogSoItCanBeTakenAgain()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("fenced");
        await client.WriteAsync("fenced", Payload("before"));
        Assert.NotNull(await client.GetOwnerAsync("fenced"));

        // An application writer takes over without the lock (DL's explicit takeover): it fences the proxy's segment.
        await using (var takeover = await proxies.Namespace.OpenLog("fenced").OpenWriterAsync(new Writers.LogWriterOptions { DisableOwnershipLock = true }))
        {
            await takeover.WriteAsync(new LogRecord(takeover.LastTxId + 1, Payload("takeover")));
            await Assert.ThrowsAnyAsync<DlException>(() => client.WriteAsync("fenced", Payload("refused")));

            // The failed writer is released, so the lock is free for whoever comes next.
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (await client.GetOwnerAsync("fenced") is not null)
            {
                await Task.Delay(20, wait.Token);
            }
        }

        await client.WriteAsync("fenced", Payload("after"));
        Assert.Equal(["before", "takeover", "after"], (await ReadAllAsync(client, "fenced")).Select(Text));
    }

    [Fact]
    public async Task ReadsStartAtDlsnTxidOrSubscriberAndStopAtTheEndUnlessFollowing()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.B.Endpoint);
        await client.CreateLogAsync("positions");
        var acks = new List<LogWriteResult>();
        for (long i = 0; i < 20; i++)
        {
            long txId = 100 + (i * 10);
            acks.Add(new LogWriteResult(await client.WriteAsync("positions", new LogRecord(txId, Payload($"r{i}"))), txId));
        }

        Assert.Equal(["r5", "r6", "r7"], (await ReadAllAsync(client, "positions", new ClientReadOptions { From = acks[5].Dlsn, Count = 3 })).Select(Text));
        Assert.Equal("r3", Text((await ReadAllAsync(client, "positions", new ClientReadOptions { FromTxId = 121 }))[0]));
        Assert.Empty(await ReadAllAsync(client, "positions", new ClientReadOptions { FromTxId = 10_000 }));

        Assert.Equal(acks[9].Dlsn, await client.CommitSubscriptionAsync("positions", "billing", acks[9].Dlsn));
        Assert.Equal(acks[9].Dlsn, await client.CommitSubscriptionAsync("positions", "billing", acks[2].Dlsn)); // never moves back
        Assert.Equal("r10", Text((await ReadAllAsync(client, "positions", new ClientReadOptions { Subscriber = "billing" }))[0]));

        // Following: records written after the read started arrive.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var tail = new List<string>();
        var following = Task.Run(async () =>
        {
            await foreach (var record in client.ReadAsync("positions", new ClientReadOptions { From = acks[^1].Dlsn.Next(), Follow = true }, cancel.Token))
            {
                tail.Add(Text(record));
                if (tail.Count == 3)
                {
                    break;
                }
            }
        });
        for (int i = 0; i < 3; i++)
        {
            await client.WriteAsync("positions", Payload($"late{i}"));
        }

        await following;
        Assert.Equal(["late0", "late1", "late2"], tail);

        await client.TruncateAsync("positions", acks[10].Dlsn);
        var end = await client.MarkEndOfStreamAsync("positions");
        Assert.True(end >= acks[^1].TxId);
        await Assert.ThrowsAsync<LogEndOfStreamException>(() => client.WriteAsync("positions", Payload("after the end")));
        Assert.True((await client.DescribeLogAsync("positions")).EndOfStream);
    }

    [Fact]
    public async Task ReadingATruncatedPositionFails()
    {
        // Segments roll after every entry, so truncation has whole segments to mark.
        static ProxyOptions Rolling() => new() { Port = 0, OwnershipTtl = TimeSpan.FromSeconds(2), Writer = new Writers.LogWriterOptions { MaxSegmentBytes = 1 } };
        await using var proxies = await InProcessProxies.StartAsync(Rolling, Rolling);
        var client = proxies.Client(discover: false, proxies.A.Endpoint);
        await client.CreateLogAsync("truncated");
        var acks = new List<LogWriteResult>();
        for (int i = 0; i < 6; i++)
        {
            acks.Add(await client.WriteAsync("truncated", Payload($"r{i}")));
        }

        Assert.True(acks[^1].Dlsn.LogSegmentSequenceNo > acks[0].Dlsn.LogSegmentSequenceNo, "segments should roll at 1 byte");
        Assert.True(await client.TruncateAsync("truncated", acks[3].Dlsn));
        await Assert.ThrowsAsync<TruncatedPositionException>(() => ReadAllAsync(client, "truncated", new ClientReadOptions { From = acks[0].Dlsn }));
        Assert.Equal(["r3", "r4", "r5"], (await ReadAllAsync(client, "truncated", new ClientReadOptions { From = acks[3].Dlsn })).Select(Text));
    }

    [Fact]
    public async Task HealthReflectionMetricsAndDiscoveryAreServed()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var health = await new Health.HealthClient(proxies.Channel(proxies.A)).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        using var reflection = new ServerReflection.ServerReflectionClient(proxies.Channel(proxies.A)).ServerReflectionInfo();
        await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await reflection.RequestStream.CompleteAsync();
        Assert.True(await reflection.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Contains("distributedlog.v1.DistributedLogProxy", reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name));

        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("observed");
        await client.WriteAsync("observed", Payload("x"));
        var listed = (await proxies.Raw(proxies.B).ListProxiesAsync(new ListProxiesRequest())).Endpoints.Order(StringComparer.Ordinal);
        Assert.Equal(new[] { proxies.A.Endpoint, proxies.B.Endpoint }.Order(StringComparer.Ordinal), listed);
        Assert.Equal(2, client.KnownProxies.Count);

        using var http = new HttpClient();
        string metrics = await http.GetStringAsync(proxies.A.AdminEndpoint + "/metrics");
        string owner = (await client.GetOwnerAsync("observed"))!;
        string ownerMetrics = await http.GetStringAsync((owner == proxies.A.Endpoint ? proxies.A : proxies.B).AdminEndpoint + "/metrics");
        Assert.Contains("dl_proxy_requests_total", metrics, StringComparison.Ordinal);
        Assert.Contains("dl_proxy_records_written_total", ownerMetrics, StringComparison.Ordinal);
        Assert.Equal("ok", await http.GetStringAsync(proxies.A.AdminEndpoint + "/healthz"));
    }
}
