using System.Text;
using DistributedLog.Ledgers;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Semantics;

/// <summary>DistributedLog's semantics end to end (writer → bookies → reader), on each metadata backend.</summary>
public abstract class LogSemanticsTests() : ClusterTestBase("semantics")
{
    protected static LogRecord Record(long txId) => new(txId, Encoding.UTF8.GetBytes($"payload {txId}"));

    protected static async Task<List<LogRecordWithDlsn>> ReadAsync(LogReader reader, int count)
    {
        var records = new List<LogRecordWithDlsn>(count);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (records.Count < count)
        {
            records.Add(await reader.ReadNextAsync(timeout.Token));
        }

        return records;
    }

    [Fact]
    public async Task Takeover_fences_the_first_writer_and_readers_see_both_in_order()
    {
        var log = await NewLogAsync("takeover");
        var options = new LogWriterOptions { DisableOwnershipLock = true };
        var first = await log.OpenWriterAsync(options);
        for (long t = 0; t < 50; t++)
        {
            await first.WriteAsync(Record(t));
        }

        await using var second = await log.OpenWriterAsync(options);
        var fenced = await Assert.ThrowsAnyAsync<DlException>(async () => await first.WriteAsync(Record(999)));
        Assert.True(fenced.Code is StatusCode.LedgerFenced or StatusCode.LockingException);
        for (long t = 50; t < 80; t++)
        {
            await second.WriteAsync(Record(t));
        }

        await second.FlushAsync();
        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
        var records = await ReadAsync(reader, 80);
        Assert.Equal(Enumerable.Range(0, 80).Select(i => (long)i), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, 80).Select(i => (long)i), records.Select(r => r.SequenceId));
        Assert.Equal(records.Select(r => r.Dlsn).Order(), records.Select(r => r.Dlsn));
    }

    [Fact]
    public async Task A_writer_that_loses_its_lease_stops_writing()
    {
        var log = await NewLogAsync("lease-lost");
        await using var writer = await log.OpenWriterAsync();
        await writer.WriteAsync(Record(1));
        var lockKey = await Cluster.Store.GetAsync(Namespace.Metadata.Layout.Lock("lease-lost"));
        Assert.NotNull(lockKey);
        await Cluster.Store.RevokeLeaseAsync(lockKey.LeaseId);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        DlException? stopped = null;
        for (long t = 2; stopped is null && DateTime.UtcNow < deadline; t++)
        {
            try
            {
                await writer.WriteAsync(Record(t));
                await Task.Delay(50);
            }
            catch (DlException e)
            {
                stopped = e;
            }
        }

        Assert.NotNull(stopped);
        Assert.Equal(StatusCode.LockingException, stopped.Code);
        // The log is free: another writer takes over.
        await using var next = await log.OpenWriterAsync();
        await next.WriteAsync(Record(1000));
    }

    [Fact]
    public async Task Tailing_reader_crosses_rolls_without_missing_or_repeating()
    {
        var log = await NewLogAsync("tail-rolls");
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions { MaxSegmentBytes = 600 });
        await using var reader = await log.OpenReaderAsync(0L);
        var reading = ReadAsync(reader, 300);
        for (long t = 0; t < 300; t++)
        {
            await writer.WriteAsync(Record(t));
        }

        var records = await reading;
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), records.Select(r => r.TxId));
        Assert.True((await log.GetSegmentsAsync()).Count >= 5);
    }

    [Fact]
    public async Task Subscriber_reader_resumes_after_its_committed_position_and_holds_a_read_lock()
    {
        var log = await NewLogAsync("subscribed");
        await using (var writer = await log.OpenWriterAsync())
        {
            for (long t = 0; t < 10; t++)
            {
                await writer.WriteAsync(Record(t));
            }
        }

        Dlsn committed;
        await using (var subscriber = await log.OpenSubscriberReaderAsync("billing"))
        {
            await Assert.ThrowsAsync<LockingException>(() => log.OpenSubscriberReaderAsync("billing"));
            var first = await ReadAsync(subscriber.Reader, 5);
            committed = first[^1].Dlsn;
            Assert.True(await log.Subscriptions.AdvanceAsync("billing", committed));
        }

        await using var resumed = await log.OpenSubscriberReaderAsync("billing");
        var rest = await ReadAsync(resumed.Reader, 5);
        Assert.Equal([5L, 6L, 7L, 8L, 9L], rest.Select(r => r.TxId));
    }

    [Fact]
    public async Task End_of_stream_is_raised_after_every_record()
    {
        var log = await NewLogAsync("eos");
        await using (var writer = await log.OpenWriterAsync())
        {
            for (long t = 0; t < 5; t++)
            {
                await writer.WriteAsync(Record(t));
            }

            await writer.MarkEndOfStreamAsync();
        }

        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
        Assert.Equal(5, (await ReadAsync(reader, 5)).Count);
        await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadNextAsync());
        Assert.Equal(4, await log.GetLastTxIdAsync());
        Assert.Equal(5, await log.GetRecordCountAsync());
    }

    [Fact]
    public async Task Truncated_positions_fail_for_dlsn_readers_and_txid_readers_start_at_the_truncation_point()
    {
        var log = await NewLogAsync("truncated");
        var dlsns = new List<Dlsn>();
        await using (var writer = await log.OpenWriterAsync(new LogWriterOptions { MaxSegmentBytes = 300 }))
        {
            for (long t = 0; t < 60; t++)
            {
                dlsns.Add(await writer.WriteAsync(Record(t)));
            }

            Assert.True(await writer.TruncateAsync(dlsns[30]));
        }

        await Assert.ThrowsAsync<TruncatedPositionException>(async () =>
        {
            await using var early = await log.OpenReaderAsync(dlsns[0]);
            await early.ReadNextAsync();
        });
        await using var byTxId = await log.OpenReaderAsync(0L);
        Assert.Equal(30, (await byTxId.ReadNextAsync()).TxId);
    }
}

public sealed class SqliteLogSemanticsTests : LogSemanticsTests
{
    protected override string? MetadataUri => null;
}

public sealed class EtcdLogSemanticsTests(EtcdServer etcd) : LogSemanticsTests, IClassFixture<EtcdServer>
{
    protected override string? MetadataUri { get; } = etcd.NewStoreUri();
}
