using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Writers;

/// <summary>
/// Back-pressure lives in the core writer (issue 11): a bound on records and bytes accepted and not yet acknowledged,
/// <see cref="AsyncLogWriter.TryWrite"/> refusing beyond it and <see cref="AsyncLogWriter.WriteAsync(LogRecord, CancellationToken)"/>
/// waiting for room. Acknowledgements are held back for real: two of three bookie processes are frozen (SIGSTOP), so
/// the ack quorum (2) cannot be met until they resume.
/// </summary>
public sealed class WriterBackPressureTests(EtcdServer etcd) : IClassFixture<EtcdServer>
{
    [Fact]
    public async Task A_writer_with_stalled_bookies_stops_taking_records_at_its_bound_and_resumes_when_they_answer()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, etcd, new Ledgers.LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(60) });
        await using var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client);
        await ns.CreateLogAsync("pressure");
        var options = new LogWriterOptions { MaxOutstandingRecords = 50, MaxOutstandingBytes = 1L << 20, ImmediateFlush = true };
        await using var writer = await ns.OpenLog("pressure").OpenWriterAsync(options);
        Assert.True(writer.HasRoom);
        await writer.WriteAsync(new LogRecord(0, Encoding.UTF8.GetBytes("first")), CancellationToken.None);

        var frozen = cluster.Bookies.Take(2).ToList();
        foreach (var bookie in frozen)
        {
            await bookie.PauseAsync();
        }

        var writes = new List<ValueTask<Dlsn>>();
        try
        {
            long txId = 1;
            while (writer.TryWrite(new LogRecord(txId, Encoding.UTF8.GetBytes($"record {txId}")), out var write))
            {
                writes.Add(write);
                txId++;
                Assert.True(txId < 1000, "the writer never refused a record although no record could be acknowledged");
            }

            // Exactly the bound is outstanding, and the refused record was not taken.
            Assert.Equal(50, writes.Count);
            Assert.Equal(50, writer.OutstandingRecords);
            Assert.False(writer.HasRoom);

            // A waiting write gives up when its token fires, and is not written.
            using (var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
                    await writer.WriteAsync(new LogRecord(txId, Encoding.UTF8.GetBytes("cancelled")), soon.Token));
            }

            Assert.Equal(50, writer.OutstandingRecords);
            var waiting = writer.WriteAsync(new LogRecord(txId, Encoding.UTF8.GetBytes($"record {txId}")), CancellationToken.None);
            await Task.Delay(300);
            Assert.False(waiting.IsCompleted);
            writes.Add(waiting);
        }
        finally
        {
            foreach (var bookie in frozen)
            {
                await bookie.ResumeAsync();
            }
        }

        // Once the bookies answer, every write completes, in order, and the bound frees up.
        var dlsns = new List<Dlsn>();
        foreach (var write in writes)
        {
            dlsns.Add(await write.AsTask().WaitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.Equal(dlsns.OrderBy(d => d).ToList(), dlsns);
        Assert.Equal(dlsns.Count, dlsns.Distinct().Count());
        Assert.Equal(0, writer.OutstandingRecords);
        Assert.True(writer.HasRoom);
        await writer.CloseAsync();
    }
}
