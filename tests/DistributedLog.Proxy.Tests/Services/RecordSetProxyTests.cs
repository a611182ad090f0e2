using System.Buffers.Binary;
using DistributedLog.Client;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using Google.Protobuf;
using Grpc.Core;
using Dlsn = DistributedLog.Protocol.Records.Dlsn;
using Record = DistributedLog.Grpc.V1.Record;
using StatusCode = DistributedLog.Protocol.Errors.StatusCode;

using static DistributedLog.Proxy.Tests.Services.ProxyTestRecords;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>
/// Record sets through the proxy (DistributedLog's <c>writeRecordSet</c>): sent as one record by unary, bulk and stream
/// writes, passed to the writer unopened, read back one by one with consecutive DLSNs; malformed sets are refused as bad
/// requests naming the fault while the proxy goes on serving.
/// </summary>
public sealed class RecordSetProxyTests
{
    private static LogRecordSetBuilder Set(CompressionCodec codec, string prefix, int count)
    {
        var set = new LogRecordSetBuilder(codec);
        for (int i = 0; i < count; i++)
        {
            set.Add(Payload($"{prefix}-{i:D3} " + new string('r', 80)));
        }

        return set;
    }

    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public async Task SetsWrittenByUnaryBulkAndStreamReadBackOneByOneWithTheirDlsns(CompressionCodec codec)
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("sets");

        // (payload, DLSN, txid) of every record as the writes report them.
        var written = new List<(string Text, Dlsn Dlsn, long TxId)>();
        void AddSet(string prefix, int count, LogRecordSetWriteResult result)
        {
            Assert.Equal(count, result.Dlsns.Count);
            for (int i = 0; i < count; i++)
            {
                written.Add(($"{prefix}-{i:D3} " + new string('r', 80), result.Dlsns[i], result.TxId));
            }
        }

        using (var set = Set(codec, "unary", 10))
        {
            AddSet("unary", 10, await client.WriteRecordSetAsync("sets", set));
        }

        var plain = await client.WriteAsync("sets", Payload("plain"));
        written.Add(("plain", plain.Dlsn, plain.TxId));

        using (var bulkSet = Set(codec, "bulk", 30))
        {
            long txId = plain.TxId + 1;
            var bulk = await client.WriteBulkAsync("sets", [new LogRecord(txId, Payload("bulk-plain")), bulkSet.Build(txId + 1), new LogRecord(txId + 2, Payload("bulk-last"))]);
            var acks = await Task.WhenAll(bulk);
            written.Add(("bulk-plain", acks[0].Dlsn, acks[0].TxId));
            AddSet("bulk", 30, new LogRecordSetWriteResult(new RecordSetDlsns(acks[1].Dlsn, 30), acks[1].TxId));
            written.Add(("bulk-last", acks[2].Dlsn, acks[2].TxId));
        }

        await using (var stream = client.OpenWriteStream("sets"))
        {
            var sets = new List<(string Prefix, Task<LogRecordSetWriteResult> Write)>();
            var plains = new List<(string Text, Task<LogWriteResult> Write)>();
            for (int s = 0; s < 20; s++)
            {
                using var set = Set(codec, $"stream{s}", 100);
                sets.Add(($"stream{s}", stream.WriteRecordSetAsync(set)));
                plains.Add(($"stream-plain-{s}", stream.WriteAsync(Payload($"stream-plain-{s}"))));
            }

            for (int s = 0; s < 20; s++)
            {
                AddSet(sets[s].Prefix, 100, await sets[s].Write);
                var ack = await plains[s].Write;
                written.Add((plains[s].Text, ack.Dlsn, ack.TxId));
            }
        }

        var records = await ReadAllAsync(client, "sets");
        Assert.Equal(written.Count, records.Count);
        Assert.Equal(written.Select(w => w.Text), records.Select(Text));
        Assert.Equal(written.Select(w => w.Dlsn), records.Select(r => r.Dlsn));
        Assert.Equal(written.Select(w => w.TxId), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.SequenceId));

        // The records of a set are consecutive slots of one entry.
        for (int i = 1; i < 10; i++)
        {
            Assert.Equal(new Dlsn(records[0].Dlsn.LogSegmentSequenceNo, records[0].Dlsn.EntryId, records[0].Dlsn.SlotId + i), records[i].Dlsn);
        }

        var description = await client.DescribeLogAsync("sets");
        Assert.Equal(written.Count, description.RecordCount);
        Assert.Equal(written[^1].Dlsn, description.LastDlsn);
    }

    [Fact]
    public async Task MalformedSetsAreBadRequestsNamingTheFaultAndTheProxyKeepsServing()
    {
        await using var proxies = await InProcessProxies.StartAsync();
        var client = proxies.Client(discover: true, proxies.A.Endpoint);
        await client.CreateLogAsync("strict-sets");
        var good = await client.WriteAsync("strict-sets", Payload("good"));
        string owner = (await client.GetOwnerAsync("strict-sets"))!;
        var raw = proxies.Raw(owner == proxies.A.Endpoint ? proxies.A : proxies.B);

        byte[] valid;
        using (var set = new LogRecordSetBuilder())
        {
            set.Add(Payload("one"));
            set.Add(Payload("two"));
            valid = set.ToPayload();
        }

        byte[] Altered(Action<byte[]> change)
        {
            byte[] copy = (byte[])valid.Clone();
            change(copy);
            return copy;
        }

        async Task<WriteResponse> WriteSet(byte[] payload) =>
            await raw.WriteAsync(new WriteRequest { Log = "strict-sets", Record = new Record { Payload = ByteString.CopyFrom(payload), RecordSet = true } });

        async Task Refused(byte[] payload, StatusCode code, string fault)
        {
            var response = await WriteSet(payload);
            Assert.Equal((int)code, response.Header.Code);
            Assert.Contains(fault, response.Header.Message, StringComparison.Ordinal);
        }

        // Header faults, found without decompressing.
        await Refused(Altered(p => BinaryPrimitives.WriteInt32BigEndian(p.AsSpan(4), 9)), StatusCode.BadRequest, "declares 9 records in 14 bytes");
        await Refused(valid[..^3], StatusCode.BadRequest, "declares 14 stored bytes but holds 11");
        await Refused(Altered(p => BinaryPrimitives.WriteInt32BigEndian(p, RecordSetFormat.Version | 2)), StatusCode.BadRequest, "unknown version or codec");
        await Refused(Altered(p => BinaryPrimitives.WriteInt32BigEndian(p, 0x2000)), StatusCode.BadRequest, "unknown version or codec");
        await Refused([.. valid[..4], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], StatusCode.BadRequest, "holds no records");
        await Refused(valid[..10], StatusCode.BadRequest, "shorter than its 16-byte header");
        // A fault past the header (an inner length running past the data), found by the writer before it takes the set.
        await Refused(Altered(p => BinaryPrimitives.WriteInt32BigEndian(p.AsSpan(RecordSetFormat.HeaderSize), 60)), StatusCode.BadRequest, "inner record of 60 bytes where only 10 remain");

        // Too big: a well-formed set whose record would exceed the maximum record size.
        byte[] big = new byte[LogRecord.MaxPayloadSize + 1];
        int data = big.Length - RecordSetFormat.HeaderSize;
        BinaryPrimitives.WriteInt32BigEndian(big, RecordSetFormat.Version);
        BinaryPrimitives.WriteInt32BigEndian(big.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32BigEndian(big.AsSpan(8), data);
        BinaryPrimitives.WriteInt32BigEndian(big.AsSpan(12), data);
        BinaryPrimitives.WriteInt32BigEndian(big.AsSpan(16), data - RecordSetFormat.RecordOverhead);
        await Refused(big, StatusCode.TooLargeRecord, "exceeds the maximum record size");

        // Corrupt LZ4 data behind a valid header.
        byte[] lz4;
        using (var set = new LogRecordSetBuilder(CompressionCodec.Lz4))
        {
            for (int i = 0; i < 50; i++)
            {
                set.Add(Payload("compressible compressible compressible"));
            }

            lz4 = set.ToPayload();
        }

        Assert.Equal(RecordSetFormat.Version | 1, BinaryPrimitives.ReadInt32BigEndian(lz4));
        await Refused(CorruptLz4(lz4), StatusCode.BadRequest, "LZ4 data is corrupt");

        // In bulk and stream writes the malformed set is refused on its own index and nothing after it is written.
        var bulk = await raw.WriteBulkAsync(new WriteBulkRequest
        {
            Log = "strict-sets",
            Records =
            {
                new Record { Payload = ByteString.CopyFrom(valid), RecordSet = true },
                new Record { Payload = ByteString.CopyFrom(valid[..^1]), RecordSet = true },
                new Record { Payload = ByteString.CopyFromUtf8("never") },
            },
        });
        Assert.Equal([(int)StatusCode.Success, (int)StatusCode.BadRequest, (int)StatusCode.WriteCancelledException], bulk.Results.Select(r => r.Header.Code));
        Assert.Equal(2, bulk.Results[0].RecordCount);

        using (var call = raw.WriteStream())
        {
            await call.RequestStream.WriteAsync(new WriteStreamRequest
            {
                Log = "strict-sets",
                Records = { new Record { Payload = ByteString.CopyFrom(valid), RecordSet = true }, new Record { Payload = ByteString.CopyFrom(valid[..^1]), RecordSet = true } },
            });
            await call.RequestStream.CompleteAsync();
            var responses = new List<WriteStreamResponse>();
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                responses.Add(response);
            }

            var failure = Assert.Single(responses, r => !r.Header.IsOk());
            Assert.Equal((int)StatusCode.BadRequest, failure.Header.Code);
            Assert.Equal(1, failure.FirstIndex);
            Assert.False(failure.OutcomeUnknown);
            Assert.Contains("Malformed record set", failure.Header.Message, StringComparison.Ordinal);
        }

        var ok = await WriteSet(valid);
        Assert.True(ok.Header.IsOk());
        Assert.Equal(2, ok.RecordCount);
        var after = await client.WriteAsync("strict-sets", Payload("after"));
        Assert.True(after.Dlsn > good.Dlsn);
        Assert.Equal(["good", "one", "two", "one", "two", "one", "two", "after"], (await ReadAllAsync(client, "strict-sets")).Select(Text));

        // The client checks a sealed payload's header before sending it.
        var local = await Assert.ThrowsAsync<DlException>(() => client.WriteRecordSetAsync("strict-sets", valid[..^1]));
        Assert.Equal(StatusCode.BadRequest, local.Code);
    }

    private static byte[] CorruptLz4(byte[] set)
    {
        byte[] copy = (byte[])set.Clone();
        for (int i = RecordSetFormat.HeaderSize; i < copy.Length; i++)
        {
            copy[i] = 0xFF;
        }

        return copy;
    }
}
