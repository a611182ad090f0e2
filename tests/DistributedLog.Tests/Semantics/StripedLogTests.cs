using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Semantics;

/// <summary>
/// A log whose segments are striped (E=5, Qw=3, Qa=2) over five bookie processes, through the core library: written
/// while a reader tails it, its in-progress segment recovered by the next writer after the first one aborts, and read
/// back in full.
/// </summary>
public sealed class StripedLogTests(EtcdServer etcd, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static byte[] Payload(long txId) => Encoding.UTF8.GetBytes($"record {txId} {new string('x', (int)(txId % 50))}");

    [Fact]
    public async Task A_striped_log_is_written_tailed_recovered_and_read_back()
    {
        const int total = 600;
        await using var cluster = await ProcessCluster.StartAsync(5, etcd);
        await using var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client, "striped");
        await ns.CreateLogAsync("log");
        var log = ns.OpenLog("log");
        var options = new LogWriterOptions { EnsembleSize = 5, WriteQuorumSize = 3, AckQuorumSize = 2, MaxSegmentBytes = 8 << 10 };

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var tailer = await log.OpenReaderAsync(ReadPosition.Earliest, cancellationToken: timeout.Token);
        var tailed = Task.Run(async () =>
        {
            var seen = new List<(long TxId, byte[] Payload)>();
            while (seen.Count < total)
            {
                var record = await tailer.ReadNextAsync(timeout.Token);
                seen.Add((record.TxId, record.Payload.ToArray()));
            }

            return seen;
        });

        // The first writer stops without completing its last segment (as if it died); the second recovers it.
        await using (var writer = await log.OpenWriterAsync(options, timeout.Token))
        {
            for (long txId = 1; txId <= total / 2; txId++)
            {
                await writer.WriteAsync(new LogRecord(txId, Payload(txId)));
            }

            await writer.FlushAsync(timeout.Token);
            await writer.AbortAsync();
        }

        await using (var writer = await log.OpenWriterAsync(options, timeout.Token))
        {
            Assert.Equal(total / 2, writer.LastTxId);
            for (long txId = (total / 2) + 1; txId <= total; txId++)
            {
                await writer.WriteAsync(new LogRecord(txId, Payload(txId)));
            }

            await writer.CloseAsync(timeout.Token);
        }

        var expected = Enumerable.Range(1, total).Select(t => ((long)t, Payload(t))).ToList();
        var tail = await tailed;
        Assert.Equal(expected.Select(e => e.Item1), tail.Select(t => t.TxId));
        Assert.Equal(expected.Select(e => e.Item2), tail.Select(t => t.Payload));

        var segments = await log.GetSegmentsAsync(timeout.Token);
        output.WriteLine($"{segments.Count} segments");
        Assert.True(segments.Count >= 4, $"expected several segments, got {segments.Count}");
        Assert.DoesNotContain(segments, s => s.IsInProgress);
        foreach (var segment in segments)
        {
            var ledger = (await cluster.LedgerStore.ReadAsync(segment.LedgerId, timeout.Token))!.Value;
            Assert.Equal((5, 3, 2), (ledger.EnsembleSize, ledger.WriteQuorumSize, ledger.AckQuorumSize));
            Assert.Equal(5, ledger.CurrentEnsemble.Distinct().Count());
        }

        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest, cancellationToken: timeout.Token);
        foreach (var (txId, payload) in expected)
        {
            var record = await reader.ReadNextAsync(timeout.Token);
            Assert.Equal(txId, record.TxId);
            Assert.Equal(payload, record.Payload.ToArray());
        }
    }
}
