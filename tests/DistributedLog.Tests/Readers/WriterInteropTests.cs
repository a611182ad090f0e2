using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Writers;
using static DistributedLog.Tests.Readers.ReaderCluster;

namespace DistributedLog.Tests.Readers;

/// <summary>The reader against the real log writer: both sides of the segment contract together.</summary>
public abstract class WriterInteropTests(ReaderCluster fixture)
{
    [Fact]
    public async Task A_tailing_reader_follows_the_writer_across_rolls_writer_changes_and_end_of_stream()
    {
        var dl = DistributedLogNamespace.Create(fixture.Cluster.Store, fixture.Cluster.Client, "readers");
        string name = fixture.NewLogName("writer");
        await dl.CreateLogAsync(name);
        var log = dl.OpenLog(name);
        await using var reader = await fixture.OpenAsync(name, ReadPosition.FromDlsn(Dlsn.Initial));
        var read = new List<LogRecordWithDlsn>();
        var consumer = Task.Run(async () =>
        {
            await foreach (var record in reader)
            {
                read.Add(record);
            }
        });

        var written = new List<long>();
        long txId = 1;
        for (int round = 0; round < 3; round++)
        {
            // Small segments roll often; each new writer starts a new segment.
            await using var writer = await log.OpenWriterAsync(new LogWriterOptions { MaxSegmentBytes = 4096 });
            for (int i = 0; i < 300; i++)
            {
                long t = txId++;
                _ = await writer.WriteAsync(new LogRecord(t, Encoding.UTF8.GetBytes($"payload-{t}-{new string('x', i % 50)}")));
                written.Add(t);
                if (i % 97 == 0)
                {
                    await Task.Delay(20); // the reader catches up and waits at the tail
                }
            }

            if (round == 2)
            {
                await writer.MarkEndOfStreamAsync();
            }
            else
            {
                await writer.CloseAsync();
            }
        }

        await consumer.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True((await log.GetSegmentsAsync()).Count > 3);

        // What the reader returns is checked against what was written (txids, payloads, sequence ids) and against the
        // ledgers (strictly increasing DLSNs, the queries); the writer's own DLSNs are the writer tests' business.
        Assert.Equal(written, read.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, read.Count).Select(i => (long)i), read.Select(r => r.SequenceId));
        Assert.Equal($"payload-5-{new string('x', 4)}", Encoding.UTF8.GetString(read[4].Payload.Span));
        for (int i = 1; i < read.Count; i++)
        {
            Assert.True(read[i - 1].Dlsn < read[i].Dlsn, $"{read[i - 1].Dlsn} then {read[i].Dlsn}");
        }

        var queries = fixture.Queries;
        Assert.Equal(read[^1].Dlsn, await queries.GetLastDlsnAsync(name));
        Assert.Equal(written.Count, await queries.GetRecordCountAsync(name));
        Assert.Equal(read[450].Dlsn, await queries.GetDlsnNotLessThanTxIdAsync(name, read[450].TxId));

        await using var byTxId = await fixture.OpenAsync(name, ReadPosition.FromTxId(read[700].TxId));
        Assert.Equal(read[700].Dlsn, (await ReadAsync(byTxId, 1))[0].Dlsn);
    }
}

[Collection(SqliteReaderCollection.Name)]
public sealed class SqliteWriterInteropTests(SqliteReaderCluster fixture) : WriterInteropTests(fixture);

[Collection(EtcdReaderCollection.Name)]
public sealed class EtcdWriterInteropTests(EtcdReaderCluster fixture) : WriterInteropTests(fixture);
