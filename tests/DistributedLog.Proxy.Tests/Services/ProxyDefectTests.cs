using System.Text;
using DistributedLog.Client;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Testing;
using Google.Protobuf;
using Grpc.Health.V1;
using Dlsn = DistributedLog.Protocol.Records.Dlsn;
using Record = DistributedLog.Grpc.V1.Record;

using static DistributedLog.Proxy.Tests.Services.ProxyTestRecords;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>The proxy defects of issue 9 (section 4), each reproduced against two in-process proxies.</summary>
public sealed class ProxyDefectTests
{
    private static Record Wire(long txId, string text) => new() { Txid = txId, Payload = ByteString.CopyFromUtf8(text) };

    [Fact]
    public async Task DecreasingTxidsAreRefusedByUnaryBulkAndStreamedWritesAndNothingAfterTheRefusedOneIsWritten()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("txids");

        // Unary: 100, 200, then 150 is refused with both txids named; the log goes on.
        await client.WriteAsync("txids", new LogRecord(100, Payload("t100")));
        await client.WriteAsync("txids", new LogRecord(200, Payload("t200")));
        var unary = await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(() => client.WriteAsync("txids", new LogRecord(150, Payload("t150"))));
        Assert.Contains("150", unary.Message, StringComparison.Ordinal);
        Assert.Contains("200", unary.Message, StringComparison.Ordinal);
        Assert.Equal(StatusCode.TransactionOutOfOrder, unary.Code);

        // Bulk (raw, to see every result): the record before the refused one is written, the ones after are not.
        string owner = (await client.GetOwnerAsync("txids"))!;
        var raw = proxies.Raw(owner == proxies.A.Endpoint ? proxies.A : proxies.B);
        var bulk = await raw.WriteBulkAsync(new WriteBulkRequest { Log = "txids", Records = { Wire(210, "t210"), Wire(205, "t205"), Wire(220, "t220") } });
        Assert.True(bulk.Results[0].Header.IsOk(), bulk.Results[0].Header.Message);
        Assert.Equal((int)StatusCode.TransactionOutOfOrder, bulk.Results[1].Header.Code);
        Assert.Contains("210", bulk.Results[1].Header.Message, StringComparison.Ordinal);
        Assert.Equal((int)StatusCode.WriteCancelledException, bulk.Results[2].Header.Code);

        // Stream: the refused record fails with its error, every later one is cancelled, and the stream goes on afterwards.
        await using (var stream = client.OpenWriteStream("txids"))
        {
            var ok = stream.WriteAsync(Payload("t300"), 300);
            var refused = stream.WriteAsync(Payload("t250"), 250);
            var later = stream.WriteAsync(Payload("t400"), 400);
            await ok;
            var error = await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(() => refused);
            Assert.Contains("250", error.Message, StringComparison.Ordinal);
            Assert.Contains("300", error.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<WriteCancelledException>(() => later);
            await stream.WriteAsync(Payload("t500"), 500);
        }

        // Records without a txid get one above the highest written.
        var assigned = await client.WriteAsync("txids", Payload("assigned"));
        Assert.True(assigned.TxId > 500);

        var records = await ReadAllAsync(client, "txids");
        Assert.Equal(["t100", "t200", "t210", "t300", "t500", "assigned"], records.Select(Text));
        Assert.Equal("t200", Text((await ReadAllAsync(client, "txids", new ClientReadOptions { FromTxId = 150 }))[0]));
    }

    [Fact]
    public async Task ConcurrentWritesWithAssignedTxidsAreNeverRefusedAsOutOfOrder()
    {
        // The proxy assigns txids and hands records to the writer as one step; concurrent requests cannot cross.
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("assigned");
        await client.WriteAsync("assigned", Payload("first"));
        var writes = Enumerable.Range(0, 200).Select(i => client.WriteAsync("assigned", Payload($"w{i}"))).ToList();
        var acks = await Task.WhenAll(writes);
        Assert.Equal(200, acks.Select(a => a.TxId).Distinct().Count());
        var records = await ReadAllAsync(client, "assigned");
        Assert.Equal(201, records.Count);
        Assert.True(records.Zip(records.Skip(1)).All(p => p.First.TxId < p.Second.TxId), "txids must increase along the log");
    }

    [Fact]
    public async Task TruncatingBeyondTheLastRecordIsRefusedAndChangesNothing()
    {
        static ProxyOptions Rolling() => new() { Port = 0, OwnershipTtl = TimeSpan.FromSeconds(2), Writer = new Writers.LogWriterOptions { MaxSegmentBytes = 1 } };
        await using var proxies = await InProcessProxies.StartAsync(Rolling, Rolling);
        var client = proxies.Client(discover: false, proxies.A.Endpoint);
        await client.CreateLogAsync("bounded");
        var acks = new List<LogWriteResult>();
        for (int i = 0; i < 4; i++)
        {
            acks.Add(await client.WriteAsync("bounded", Payload($"r{i}")));
        }

        var error = await Assert.ThrowsAsync<DlException>(() => client.TruncateAsync("bounded", new Dlsn(999, 0, 0)));
        Assert.Equal(StatusCode.BadRequest, error.Code);
        Assert.Contains("beyond its last record", error.Message, StringComparison.Ordinal);
        Assert.Contains(acks[^1].Dlsn.ToString(), error.Message, StringComparison.Ordinal);
        Assert.All((await client.DescribeLogAsync("bounded")).Segments, s => Assert.Equal("Active", s.Truncation));
        Assert.Equal(["r0", "r1", "r2", "r3"], (await ReadAllAsync(client, "bounded")).Select(Text));

        // The last acknowledged DLSN itself is a valid point (made visible first), keeping that record.
        Assert.True(await client.TruncateAsync("bounded", acks[^1].Dlsn));
        Assert.Equal(["r3"], (await ReadAllAsync(client, "bounded")).Select(Text));
        await Assert.ThrowsAsync<LogNotFoundException>(() => client.TruncateAsync("missing", new Dlsn(1, 0, 0)));
    }

    [Fact]
    public async Task GetOwnerAndReleaseOfAMissingLogAnswerLogNotFound()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await Assert.ThrowsAsync<LogNotFoundException>(() => client.GetOwnerAsync("missing"));
        await Assert.ThrowsAsync<LogNotFoundException>(() => client.ReleaseAsync("missing"));
        var raw = proxies.Raw(proxies.B);
        Assert.Equal((int)StatusCode.LogNotFound, (await raw.GetOwnerAsync(new GetOwnerRequest { Log = "missing" })).Header.Code);
        Assert.Equal((int)StatusCode.LogNotFound, (await raw.ReleaseAsync(new ReleaseRequest { Log = "missing" })).Header.Code);

        // An existing, unowned log still answers "no owner" and releases as a no-op.
        await client.CreateLogAsync("present");
        Assert.Null(await client.GetOwnerAsync("present"));
        await client.ReleaseAsync("present");
    }

    [Fact]
    public async Task DescribeShowsTheInProgressSegmentUpToWhatReadersSee()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("described");
        LogWriteResult last = default!;
        await using (var stream = client.OpenWriteStream("described"))
        {
            var writes = Enumerable.Range(0, 3000).Select(i => stream.WriteAsync(Payload($"r{i}"))).ToList();
            foreach (var write in writes)
            {
                last = await write;
            }
        }

        var description = await client.DescribeLogAsync("described");
        var segment = Assert.Single(description.Segments);
        Assert.True(segment.InProgress);
        Assert.Equal(3000, segment.RecordCount);
        Assert.Equal(last.TxId, segment.LastTxId);
        Assert.Equal(3000, description.RecordCount);
        Assert.Equal(last.TxId, description.LastTxId);
    }

    [Fact]
    public async Task HealthAnswersForTheServiceNameAndNotServingWhileDraining()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var health = new Health.HealthClient(proxies.Channel(proxies.A));
        Assert.Equal("distributedlog.v1.DistributedLogProxy", ProxyHost.ServiceName);
        foreach (string service in new[] { "", ProxyHost.ServiceName })
        {
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status);
        }

        var unknown = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }).ResponseAsync);
        Assert.Equal(global::Grpc.Core.StatusCode.NotFound, unknown.StatusCode);

        var client = proxies.Client(discover: false, proxies.A.Endpoint);
        await client.CreateLogAsync("drained");
        await client.WriteAsync("drained", Payload("x"));
        await proxies.A.DrainAsync();
        foreach (string service in new[] { "", ProxyHost.ServiceName })
        {
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status);
        }

        Assert.Equal(0, proxies.A.OwnedLogs);
        var refused = await proxies.Raw(proxies.A).WriteAsync(new WriteRequest { Log = "drained", Record = new Record { Payload = ByteString.CopyFromUtf8("y") } });
        Assert.Equal((int)StatusCode.ServiceUnavailable, refused.Header.Code);
    }

    [Fact]
    public async Task DlogWriteGoesOnAfterTheProxysWriterFailsAndReportsOnlyTheUnknownOutcomes()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("dlog-write-fenced");
        string owner = (await client.GetOwnerAsync("dlog-write-fenced")) ?? proxies.A.Endpoint;
        const int count = 100_000;
        await using var write = Dlog.Start(["write", "dlog-write-fenced", "--endpoint", proxies.A.Endpoint, "--count", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--size", "20", "--json"]);
        await write.WaitForLinesAsync(2000, TimeSpan.FromSeconds(60));

        // Fence the proxy's segment mid-run (a lock-free takeover recovers it), as a lost bookie quorum or a stolen lease would.
        await using (var takeover = await proxies.Namespace.OpenLog("dlog-write-fenced").OpenWriterAsync(new Writers.LogWriterOptions { DisableOwnershipLock = true }))
        {
            await takeover.AbortAsync();
        }

        var result = await write.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var lines = write.Lines;
        int unknown = lines.Count(l => l.Contains("\"outcome\":\"unknown\"", StringComparison.Ordinal));
        var acks = lines.Where(l => l.Contains("\"dlsn\"", StringComparison.Ordinal)).ToList();
        Assert.True(unknown > 0, $"the takeover should have failed the proxy's writer mid-run (it wrote {acks.Count} records first): {result}");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown outcome", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);

        // Every record is reported once, acknowledged or of unknown outcome: the command went on to the end.
        Assert.Equal(count, acks.Count + unknown);
        var records = await ReadAllAsync(client, "dlog-write-fenced");
        Assert.True(records.Count >= acks.Count && records.Count <= count);
        Assert.Equal($"record-{count - 1}", Text(records[^1]).TrimEnd('.'));
    }

    [Fact]
    public async Task AWriterFailureInsideTheProxyReportsUnknownOutcomesAndTheStreamGoesOnWithLaterRecords()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("fenced-stream");
        await using var stream = client.OpenWriteStream("fenced-stream");
        foreach (var write in Enumerable.Range(0, 100).Select(i => stream.WriteAsync(Payload($"before-{i}"))).ToList())
        {
            await write;
        }

        // An application writer takes over without the lock (DL's explicit takeover): it fences the proxy's segment, so
        // the proxy's writer fails on its next entry.
        var takeover = await proxies.Namespace.OpenLog("fenced-stream").OpenWriterAsync(new Writers.LogWriterOptions { DisableOwnershipLock = true });
        await takeover.WriteAsync(new LogRecord(takeover.LastTxId + 1, Payload("takeover")));
        await takeover.AbortAsync();

        var failed = stream.WriteAsync(Payload("during"));
        var error = await Assert.ThrowsAsync<DlException>(() => failed);
        Assert.Equal(StatusCode.WriteException, error.Code);
        Assert.Contains("unknown", error.Message, StringComparison.OrdinalIgnoreCase);

        // The same stream object goes on: the next records re-acquire the log (recovering the segment, starting a new one).
        var after = Enumerable.Range(0, 50).Select(i => stream.WriteAsync(Payload($"after-{i}"))).ToList();
        var acks = new List<LogWriteResult>();
        foreach (var write in after)
        {
            acks.Add(await write);
        }

        Assert.True(acks[0].Dlsn.LogSegmentSequenceNo > 1, "a new segment after recovery");
        var texts = (await ReadAllAsync(client, "fenced-stream")).Select(Text).ToList();
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"before-{i}"), texts.Take(100));
        Assert.Equal("takeover", texts[100]);
        Assert.True(texts.Count(t => t == "during") <= 1, "a record of unknown outcome appears at most once");
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"after-{i}"), texts.Where(t => t.StartsWith("after-", StringComparison.Ordinal)));
        Assert.Equal(acks.Select(a => a.Dlsn), (await ReadAllAsync(client, "fenced-stream")).Where(r => Text(r).StartsWith("after-", StringComparison.Ordinal)).Select(r => r.Dlsn));
    }
}
