using System.Text;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Ledgers.Tests.Cluster;

/// <summary>
/// Striping (E &gt; Qw) end to end over five bookie processes: E=5, Qw=3, Qa=2 — written, tailed by a second client,
/// recovered (fenced and closed) by a third, read back, and each entry found on exactly its write set.
/// </summary>
public sealed class StripingClusterTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static byte[] Payload(long ledgerId, long entryId) => Encoding.UTF8.GetBytes($"{ledgerId}/{entryId}/{new string('s', (int)(entryId % 61))}");

    [Fact]
    public async Task A_ledger_striped_five_three_two_is_written_tailed_recovered_and_read_back()
    {
        const int total = 300;
        var options = new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(5) };
        await using var cluster = await ProcessCluster.StartAsync(5, etcd, options);
        await using var writer = await cluster.Client.CreateLedgerAsync(5, 3, 2);
        Assert.Equal(5, writer.Metadata.CurrentEnsemble.Count);

        // A second client tails the ledger while it is written.
        var (tailClient, tailResources) = await cluster.NewClientAsync(options);
        await using var tailResourcesScope = tailResources;
        var tailer = await tailClient.OpenLedgerNoRecoveryAsync(writer.LedgerId);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var tailed = Task.Run(async () =>
        {
            var seen = new List<byte[]>();
            while (seen.Count < total)
            {
                var entry = await tailer.WaitForEntryAsync(seen.Count, TimeSpan.FromSeconds(2), timeout.Token);
                if (entry is not null)
                {
                    Assert.Equal(seen.Count, entry.EntryId);
                    seen.Add(entry.Payload.ToArray());
                }
            }

            return seen;
        });

        var adds = new List<Task<long>>();
        for (long e = 0; e < total; e++)
        {
            adds.Add(writer.AddEntryAsync(Payload(writer.LedgerId, e)).AsTask());
            if (adds.Count % 32 == 0)
            {
                await Task.WhenAll(adds);
            }
        }

        Assert.Equal(Enumerable.Range(0, total).Select(i => (long)i), await Task.WhenAll(adds));

        // The writer keeps its LAC one entry behind until it writes again: a last add makes entry total-1 visible to the tailer.
        await writer.AddEntryAsync(Payload(writer.LedgerId, total));
        var tail = await tailed;
        Assert.Equal(Enumerable.Range(0, total).Select(e => Payload(writer.LedgerId, e)), tail);

        // A third client recovers the ledger while its writer is still open: fenced and closed at the last entry.
        var (recoverClient, recoverResources) = await cluster.NewClientAsync(options);
        await using var recoverResourcesScope = recoverResources;
        var recovered = await recoverClient.OpenLedgerAsync(writer.LedgerId, timeout.Token);
        Assert.True(recovered.IsClosed);
        Assert.Equal(total, recovered.Metadata.LastEntryId);
        var fenced = await Assert.ThrowsAsync<LedgerFencedException>(() => writer.AddEntryAsync(Payload(writer.LedgerId, total + 1)).AsTask());
        output.WriteLine($"the old writer after recovery: {fenced.Message}");

        var entries = await recovered.ReadAsync(0, total, timeout.Token);
        Assert.Equal(Enumerable.Range(0, total + 1).Select(e => Payload(writer.LedgerId, e)), entries.Select(x => x.Payload.ToArray()));

        // Each entry lives on exactly its write set: the Qw consecutive bookies from position e mod E.
        var ensemble = recovered.Metadata.CurrentEnsemble;
        Assert.Single(recovered.Metadata.Ensembles);
        for (long e = 0; e <= total; e += 7)
        {
            for (int position = 0; position < ensemble.Count; position++)
            {
                var result = await cluster.Client.Bookies.ReadEntryAsync(ensemble[position], writer.LedgerId, e, cancellationToken: timeout.Token);
                bool inWriteSet = DistributionSchedule.InWriteSet(e, position, ensemble.Count, 3);
                Assert.True(inWriteSet ? result.Status == StatusCode.Success : result.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger,
                    $"entry {e} on position {position} ({ensemble[position]}): {result.Status}, in write set: {inWriteSet}");
            }
        }
    }
}
