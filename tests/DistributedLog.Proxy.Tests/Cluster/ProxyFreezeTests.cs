using System.Globalization;
using System.Text;
using DistributedLog.Client;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;
using Dlsn = DistributedLog.Protocol.Records.Dlsn;

namespace DistributedLog.Proxy.Tests.Cluster;

/// <summary>
/// Issue 9, section 2: a proxy that freezes (SIGSTOP) loses its logs to another proxy once its ownership lease expires;
/// when it wakes up (SIGCONT) it must not write (its segment was fenced by the new owner's recovery), and its clients
/// are redirected. Real processes: etcd, four bookies, two proxies.
/// </summary>
public sealed class ProxyFreezeTests(ITestOutputHelper output)
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>The pid of the <c>dlog proxy</c> process listening on <paramref name="port"/>.</summary>
    private static int ProxyPid(int port)
    {
        string wanted = $"proxy\0--port\0{port.ToString(CultureInfo.InvariantCulture)}\0";
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(wanted, StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        throw new InvalidOperationException($"No dlog proxy process listens on port {port}.");
    }

    [Fact]
    public async Task AFrozenOwnerLosesItsLogsAndWritesNothingWhenItWakesUp()
    {
        await using var cluster = await ProcessCluster.StartAsync(4);
        await cluster.StartProxiesAsync(2, "--ownership-ttl-seconds", "2", "--admin-port", "-1");
        await using var client = DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = [cluster.Proxies[0].Endpoint],
            DiscoverProxies = true,
            CallTimeout = TimeSpan.FromSeconds(2),
            RetryBudget = TimeSpan.FromSeconds(30),
        });
        await client.CreateLogAsync("frozen");
        var acknowledged = new List<(string Payload, Dlsn Dlsn)>();
        var unknown = new List<string>();
        await using var stream = client.OpenWriteStream("frozen");
        foreach (var (payload, write) in Enumerable.Range(0, 200).Select(i => ($"before-{i}", stream.WriteAsync(Bytes($"before-{i}")))).ToList())
        {
            acknowledged.Add((payload, (await write).Dlsn));
        }

        string owner = (await client.GetOwnerAsync("frozen"))!;
        var frozen = cluster.Proxy(owner);
        var other = cluster.Proxies.Single(p => p != frozen);
        int pid = ProxyPid(frozen.Port);
        await Dlog.SignalAsync(pid, "STOP");
        try
        {
            // Records streamed to the frozen owner wait; unary writes time out there (outcome unknown), then go to the
            // other proxy, which takes the log once the frozen owner's lease expired (recovering, so fencing, its segment).
            var stuck = Enumerable.Range(0, 50).Select(i => ($"stuck-{i}", stream.WriteAsync(Bytes($"stuck-{i}")))).ToList();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(180));
            int moved = 0;
            for (int i = 0; moved < 20; i++)
            {
                deadline.Token.ThrowIfCancellationRequested();
                string payload = $"moved-{i}";
                try
                {
                    acknowledged.Add((payload, (await client.WriteAsync("frozen", Bytes(payload), deadline.Token)).Dlsn));
                    moved++;
                }
                catch (DlException e) when (e.Code is StatusCode.FlushTimeout or StatusCode.WriteException)
                {
                    unknown.Add(payload);
                }
            }

            Assert.Equal(other.Endpoint, await client.GetOwnerAsync("frozen"));
            output.WriteLine($"{unknown.Count} unary writes of unknown outcome while {frozen.Endpoint} was frozen; the log moved to {other.Endpoint}");

            await Dlog.SignalAsync(pid, "CONT");

            // The woken owner's writes fail (its segment is fenced, its lease gone): what was in flight there is of unknown
            // outcome or refused — never acknowledged.
            foreach (var (payload, write) in stuck)
            {
                // Normally every one fails (WRITE_EXCEPTION: the woken writer found its ledger fenced). One the frozen
                // proxy handled in the instant before it stopped may be acknowledged: then it must be in the log there.
                try
                {
                    var ack = await write;
                    output.WriteLine($"{payload}: acknowledged at {ack.Dlsn}");
                    acknowledged.Add((payload, ack.Dlsn));
                }
                catch (DlException error)
                {
                    output.WriteLine($"{payload}: {error.Code} {error.Message}");
                    unknown.Add(payload);
                }
            }
        }
        finally
        {
            await Dlog.SignalAsync(pid, "CONT");
        }

        // Its clients are redirected: the woken proxy answers FOUND naming the new owner, and the same stream goes on.
        using (var channel = GrpcChannel.ForAddress(frozen.Endpoint))
        {
            var raw = new DistributedLogProxy.DistributedLogProxyClient(channel);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            WriteResponse answer;
            do
            {
                answer = await raw.WriteAsync(new WriteRequest { Log = "frozen", Record = new Grpc.V1.Record { Payload = ByteString.CopyFromUtf8("probe") } },
                    cancellationToken: wait.Token);
            }
            while (answer.Header.Code != (int)StatusCode.Found && !await Delay(wait.Token));

            Assert.Equal((int)StatusCode.Found, answer.Header.Code);
            Assert.Equal(other.Endpoint, answer.Header.Location);
        }

        foreach (var (payload, write) in Enumerable.Range(0, 100).Select(i => ($"after-{i}", stream.WriteAsync(Bytes($"after-{i}")))).ToList())
        {
            acknowledged.Add((payload, (await write).Dlsn));
        }

        // Everything acknowledged is there once, in acknowledged order; nothing of unknown outcome appears twice; the
        // records after the move follow everything the frozen owner had written (its segment was closed by recovery).
        var records = new List<LogRecordWithDlsn>();
        await foreach (var record in client.ReadAsync("frozen").WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(180)).Token))
        {
            records.Add(record);
        }

        var payloads = records.Select(r => Encoding.UTF8.GetString(r.Payload.Span)).ToList();
        var duplicates = records.GroupBy(r => Encoding.UTF8.GetString(r.Payload.Span)).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key} at {string.Join(" and ", g.Select(r => r.Dlsn))}").ToList();
        Assert.True(duplicates.Count == 0, $"records in the log twice: {string.Join("; ", duplicates.Take(5))}; segments: " +
            string.Join(", ", (await client.DescribeLogAsync("frozen")).Segments.Select(s => $"#{s.Lssn} {s.RecordCount} records")));
        var byPayload = records.ToDictionary(r => Encoding.UTF8.GetString(r.Payload.Span), r => r.Dlsn);
        foreach (var (payload, dlsn) in acknowledged)
        {
            Assert.True(byPayload.TryGetValue(payload, out var read), $"acknowledged record {payload} ({dlsn}) is not in the log");
            Assert.Equal(dlsn, read);
        }

        var known = acknowledged.Select(a => a.Payload).ToHashSet();
        Assert.All(payloads, p => Assert.True(known.Contains(p) || unknown.Contains(p), $"{p} is in the log but was never written"));
        foreach (string prefix in new[] { "before-", "moved-", "after-" })
        {
            var group = acknowledged.Where(a => a.Payload.StartsWith(prefix, StringComparison.Ordinal)).Select(a => a.Dlsn).ToList();
            Assert.Equal(group.Order(), group);
        }
        var segments = (await client.DescribeLogAsync("frozen")).Segments;
        Assert.All(segments.SkipLast(1), s => Assert.False(s.InProgress));
        Assert.True(segments.Count >= 2, "the new owner wrote a new segment after recovering the frozen owner's");
    }

    private static async Task<bool> Delay(CancellationToken cancellationToken)
    {
        await Task.Delay(200, cancellationToken);
        return false;
    }
}
