using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Writers;

/// <summary>The log writer over in-process bookies (real TCP, files, fsync), on each metadata backend.</summary>
public abstract class AsyncLogWriterTests() : ClusterTestBase("writers")
{
    private static LogRecord Record(long txId) => new(txId, Encoding.UTF8.GetBytes($"record {txId}"));

    /// <summary>Every record stored in the log's segments, read straight from the ledgers.</summary>
    private async Task<List<LogRecordWithDlsn>> ReadAllAsync(LogManager log)
    {
        var records = new List<LogRecordWithDlsn>();
        foreach (var segment in await log.GetSegmentsAsync())
        {
            var reader = await Cluster.Client.OpenLedgerNoRecoveryAsync(segment.LedgerId);
            long last = segment.IsInProgress ? reader.LastAddConfirmed : segment.LastEntryId;
            if (last < 0)
            {
                continue;
            }

            foreach (var entry in await reader.ReadAsync(0, last))
            {
                records.AddRange(EntryReader.ReadAll(entry.Payload.Span, segment.Lssn, entry.EntryId, segment.StartSequenceId).Where(r => !r.IsControl));
            }
        }

        return records;
    }

    [Fact]
    public async Task A_commit_while_an_entry_is_in_flight_leaves_no_acknowledged_record_invisible()
    {
        // The defect (found by the read fan-out tests): a commit sent its control record while a user entry was still in
        // flight, so that control carried the LAC before the entry; the entry's acknowledgement then sent no control of its
        // own ("the last entry sent was a control"), and the record stayed invisible to readers for good — later commits
        // saw nothing to do. Every acknowledged record must become visible without further writes.
        var log = await NewLogAsync("commit-in-flight");
        await using var writer = await log.OpenWriterAsync();
        for (int round = 0; round < 20; round++)
        {
            long first = round * 3L;
            var a = writer.WriteAsync(Record(first));
            var b = writer.WriteAsync(Record(first + 1)); // buffered while the first is in flight, sent when it is acknowledged
            var commit = writer.CommitAsync();
            var c = writer.WriteAsync(Record(first + 2));
            await a;
            await b;
            await c;
            await commit;

            int expected = (round + 1) * 3;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            List<LogRecordWithDlsn> visible;
            while ((visible = await ReadAllAsync(log)).Count < expected && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.Equal(Enumerable.Range(0, expected).Select(i => (long)i), visible.Select(r => r.TxId));
        }
    }

    [Fact]
    public async Task Writes_get_ordered_dlsns_and_the_segment_completes_on_close()
    {
        var log = await NewLogAsync("basic");
        await using (var writer = await log.OpenWriterAsync())
        {
            var dlsns = new List<Dlsn>();
            for (long t = 0; t < 300; t++)
            {
                dlsns.Add(await writer.WriteAsync(Record(t)));
            }

            Assert.Equal(dlsns.Order(), dlsns);
            Assert.Equal(dlsns.Count, dlsns.Distinct().Count());
            Assert.Equal(new Dlsn(1, 0, 0), dlsns[0]);
            await writer.CloseAsync();
        }

        var segment = Assert.Single(await log.GetSegmentsAsync());
        Assert.Equal(LogSegmentState.Completed, segment.State);
        Assert.Equal(300, segment.RecordCount);
        Assert.Equal(299, segment.LastTxId);
        var records = await ReadAllAsync(log);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), records.Select(r => r.SequenceId));
        Assert.Equal(Encoding.UTF8.GetBytes("record 7"), records[7].Payload.ToArray());
    }

    [Fact]
    public async Task Concurrent_writes_are_batched_and_complete_in_write_order()
    {
        var log = await NewLogAsync("batched");
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions { FlushInterval = TimeSpan.FromMilliseconds(2) });
        var order = new ConcurrentQueue<long>();
        var writes = Enumerable.Range(0, 2000)
            .Select(t => writer.WriteAsync(Record(t)).AsTask().ContinueWith(d => order.Enqueue(d.Result.EntryId * 100_000 + d.Result.SlotId), TaskContinuationOptions.ExecuteSynchronously))
            .ToList();
        await Task.WhenAll(writes);
        await writer.CloseAsync();
        var segment = Assert.Single(await log.GetSegmentsAsync());
        Assert.True(segment.LastEntryId < 1000, $"2000 records should share entries, got {segment.LastEntryId + 1} entries");
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => (long)i), (await ReadAllAsync(log)).Select(r => r.TxId));
    }

    [Fact]
    public async Task Txid_rules_are_enforced()
    {
        var log = await NewLogAsync("txids");
        await using (var writer = await log.OpenWriterAsync())
        {
            await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await writer.WriteAsync(Record(-1)));
            await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await writer.WriteAsync(Record(long.MaxValue)));
            await writer.WriteAsync(Record(100));
            await writer.CloseAsync();
        }

        await using var next = await log.OpenWriterAsync();
        var error = await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await next.WriteAsync(Record(50)));
        Assert.Contains("100", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_decreasing_txid_within_a_segment_is_refused_alone_and_txid_positioning_skips_nothing()
    {
        // Issue 9: txids 100, 200, 150 into one segment were accepted, and a reader positioned at txid 150 then skipped 200.
        var log = await NewLogAsync("txid-order");
        await using (var writer = await log.OpenWriterAsync())
        {
            await writer.WriteAsync(Record(100));
            await writer.WriteAsync(Record(200));
            var refused = await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await writer.WriteAsync(Record(150)));
            Assert.Equal(150L, refused.TxId);
            Assert.Equal(200L, refused.HighestTxId);
            Assert.Contains("150", refused.Message, StringComparison.Ordinal);
            Assert.Contains("200", refused.Message, StringComparison.Ordinal);

            // The writer is not failed by a refused record: equal and higher txids go on, in the same segment.
            Assert.Null(writer.Failure);
            await writer.WriteAsync(Record(200));
            await writer.WriteAsync(Record(300));

            // A bulk write stops at the refused record: the ones before it are written, the ones after are not.
            var bulk = await writer.WriteBulkAsync([Record(310), Record(305), Record(320)]);
            await bulk[0];
            await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(() => bulk[1]);
            await Assert.ThrowsAsync<WriteCancelledException>(() => bulk[2]);
            await writer.CloseAsync();
        }

        Assert.Single(await log.GetSegmentsAsync());
        Assert.Equal([100L, 200, 200, 300, 310], (await ReadAllAsync(log)).Select(r => r.TxId));
        await using var reader = await log.OpenReaderAsync(150);
        Assert.Equal(200, (await reader.ReadNextAsync()).TxId);

        // A new writer starts from the log's highest txid.
        await using var next = await log.OpenWriterAsync();
        var error = await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await next.WriteAsync(Record(309)));
        Assert.Contains("310", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Segments_roll_by_size_with_one_in_progress_at_a_time()
    {
        var log = await NewLogAsync("rolling");
        await using (var writer = await log.OpenWriterAsync(new LogWriterOptions { MaxSegmentBytes = 2000 }))
        {
            for (long t = 0; t < 400; t++)
            {
                var pending = writer.WriteAsync(Record(t));
                if (t % 50 == 0)
                {
                    Assert.True((await log.GetSegmentsAsync()).Count(s => s.IsInProgress) <= 1);
                }

                await pending;
            }

            await writer.CloseAsync();
        }

        var segments = await log.GetSegmentsAsync();
        Assert.True(segments.Count >= 3, $"expected several segments, got {segments.Count}");
        Assert.All(segments, s => Assert.Equal(LogSegmentState.Completed, s.State));
        Assert.Equal(Enumerable.Range(1, segments.Count).Select(i => (long)i), segments.Select(s => s.Lssn));
        for (int i = 1; i < segments.Count; i++)
        {
            Assert.Equal(segments[i - 1].StartSequenceId + segments[i - 1].RecordCount, segments[i].StartSequenceId);
        }

        var records = await ReadAllAsync(log);
        Assert.Equal(Enumerable.Range(0, 400).Select(i => (long)i), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, 400).Select(i => (long)i), records.Select(r => r.SequenceId));
    }

    [Fact]
    public async Task A_second_writer_is_refused_while_the_first_owns_the_log()
    {
        var log = await NewLogAsync("owned");
        var first = await log.OpenWriterAsync();
        await first.WriteAsync(Record(1));
        await Assert.ThrowsAsync<LockingException>(() => log.OpenWriterAsync());
        await first.CloseAsync();
        await using var second = await log.OpenWriterAsync();
        await second.WriteAsync(Record(2));
    }

    [Fact]
    public async Task A_lock_left_under_this_clients_own_lease_by_a_failed_release_is_taken_over_by_its_next_writer()
    {
        // The state a release leaves when its delete fails (the metadata store's disk was full): the lock key still exists,
        // bound to the client's shared lease, which the client keeps alive — it would never free while the process lives.
        var held = await NewLogAsync("orphan-held");
        await using var holder = await held.OpenWriterAsync();
        await holder.WriteAsync(Record(1));
        var layout = Namespace.Metadata.Layout;
        long leaseId = (await Cluster.Store.GetAsync(layout.Lock("orphan-held")))!.LeaseId;
        Assert.NotEqual(0, leaseId);

        var orphaned = await NewLogAsync("orphan");
        byte[] owner = JsonSerializer.SerializeToUtf8Bytes(new { writer = "host/1/earlier-writer" });
        await Cluster.Store.PutAsync(layout.Lock("orphan"), owner, leaseId);

        // Another client (its own lease) must still respect the lock ...
        await using var other = DistributedLogNamespace.Create(Cluster.Store, Cluster.Client, Namespace.Name);
        await Assert.ThrowsAsync<LockingException>(() => other.OpenLog("orphan").OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.Zero }));

        // ... while this client, which knows no writer of its own holds it, removes the orphan and writes.
        await using (var writer = await orphaned.OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.Zero }))
        {
            await writer.WriteAsync(Record(7));
            // A second writer of this client is refused: its claim is held by the live writer, whatever the store says.
            await Assert.ThrowsAsync<LockingException>(() => orphaned.OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.Zero }));
        }

        Assert.Null(await Cluster.Store.GetAsync(layout.Lock("orphan")));
        await using var again = await orphaned.OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.Zero });
        await again.WriteAsync(Record(8));
    }

    [Fact]
    public async Task A_writer_whose_lock_is_gone_starts_no_segment_and_fences_nobody()
    {
        // The first writer holds the lock but has not started a segment yet (a roll under way, or no write so far) when its
        // lock key vanishes (its lease expired before it noticed); another client takes the log and writes.
        var log = await NewLogAsync("lock-gone");
        await using var first = await log.OpenWriterAsync();
        Assert.True(await Cluster.Store.DeleteAsync(Namespace.Metadata.Layout.Lock("lock-gone")));
        await using var other = DistributedLogNamespace.Create(Cluster.Store, Cluster.Client, Namespace.Name);
        await using var second = await other.OpenLog("lock-gone").OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.Zero });
        await second.WriteAsync(Record(1));

        // The first writer's segment start is refused: it neither fences the owner's segment nor starts a second one.
        await Assert.ThrowsAsync<LockingException>(async () => await first.WriteAsync(Record(2)));
        await second.WriteAsync(Record(3));
        var segment = Assert.Single(await log.GetSegmentsAsync());
        Assert.True(segment.IsInProgress);
        await second.CloseAsync();
        Assert.Equal([1L, 3L], (await ReadAllAsync(log)).Select(r => r.TxId));
    }

    [Fact]
    public async Task Takeover_fences_the_first_writer_and_keeps_every_acknowledged_record()
    {
        var log = await NewLogAsync("takeover");
        var options = new LogWriterOptions { DisableOwnershipLock = true };
        var first = await log.OpenWriterAsync(options);
        for (long t = 0; t < 50; t++)
        {
            await first.WriteAsync(Record(t));
        }

        await using var second = await log.OpenWriterAsync(options);
        var fenced = await Assert.ThrowsAnyAsync<DlException>(async () => await first.WriteAsync(Record(50)));
        Assert.True(fenced.Code is StatusCode.LedgerFenced or StatusCode.LockingException, $"got {fenced.Code}: {fenced.Message}");
        await Assert.ThrowsAnyAsync<DlException>(() => first.CloseAsync());

        for (long t = 50; t < 80; t++)
        {
            await second.WriteAsync(Record(t));
        }

        await second.CloseAsync();
        var segments = await log.GetSegmentsAsync();
        Assert.Equal(2, segments.Count);
        Assert.Equal(49, segments[0].LastTxId);
        Assert.Equal(Enumerable.Range(0, 80).Select(i => (long)i), (await ReadAllAsync(log)).Select(r => r.TxId));
    }

    [Fact]
    public async Task Recover_completes_an_aborted_writers_segment_and_removes_an_empty_one()
    {
        var log = await NewLogAsync("recover");
        var writer = await log.OpenWriterAsync();
        for (long t = 10; t < 20; t++)
        {
            await writer.WriteAsync(Record(t));
        }

        await writer.AbortAsync();
        Assert.True(Assert.Single(await log.GetSegmentsAsync()).IsInProgress);
        await log.RecoverAsync();
        var segment = Assert.Single(await log.GetSegmentsAsync());
        Assert.Equal((LogSegmentState.Completed, 19L, 10L), (segment.State, segment.LastTxId, segment.RecordCount));

        // An in-progress segment whose ledger never got an entry disappears on recovery.
        var ledger = await Cluster.Client.CreateLedgerAsync();
        var empty = new LogSegmentMetadata { Lssn = 2, LedgerId = ledger.LedgerId, FirstTxId = 20, StartSequenceId = 10 };
        await Cluster.Store.PutAsync(Namespace.Metadata.Layout.Segment("recover", 2), JsonSerializer.SerializeToUtf8Bytes(empty, LogMetadataJson.Default.LogSegmentMetadata));
        await log.RecoverAsync();
        Assert.Single(await log.GetSegmentsAsync());
    }

    [Fact]
    public async Task End_of_stream_seals_the_log()
    {
        var log = await NewLogAsync("sealed");
        await using (var writer = await log.OpenWriterAsync())
        {
            await writer.WriteAsync(Record(1));
            Assert.Equal(long.MaxValue, await writer.MarkEndOfStreamAsync());
            Assert.Equal(long.MaxValue, await writer.MarkEndOfStreamAsync());
            await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await writer.WriteAsync(Record(2)));
            await writer.CloseAsync(); // closing a sealed log's writer is fine
        }

        Assert.True(await log.IsEndOfStreamMarkedAsync());
        await using var next = await log.OpenWriterAsync();
        await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await next.WriteAsync(Record(3)));
        Assert.Equal([1L], (await ReadAllAsync(log)).Where(r => !r.IsEndOfStream).Select(r => r.TxId));
    }

    [Fact]
    public async Task Bad_input_gets_typed_errors_and_does_not_disturb_acknowledged_records()
    {
        var log = await NewLogAsync("bad");
        await Assert.ThrowsAsync<LogNotFoundException>(() => Namespace.OpenLog("missing").OpenWriterAsync());
        await using var writer = await log.OpenWriterAsync();
        await writer.WriteAsync(Record(1));
        // Oversized records and bad txids are refused when the record is made, with typed errors.
        Assert.Throws<LogRecordTooLongException>(() => new LogRecord(2, new byte[LogRecord.MaxRecordSize]));
        Assert.Throws<TransactionIdOutOfOrderException>(() => Record(-1));

        // A bulk write stops at the first failure: earlier records succeed, the failing one carries its error, later ones are cancelled.
        var bulk = await writer.WriteBulkAsync([Record(2), LogRecord.CreateControl(2), Record(3)]);
        Assert.Equal(TaskStatus.RanToCompletion, bulk[0].Status);
        await Assert.ThrowsAsync<ArgumentException>(() => bulk[1]);
        await Assert.ThrowsAsync<WriteCancelledException>(() => bulk[2]);

        await writer.CloseAsync();
        await Assert.ThrowsAsync<AlreadyClosedException>(async () => await writer.WriteAsync(Record(4)));
        Assert.Equal([1L, 2L], (await ReadAllAsync(log)).Select(r => r.TxId));
    }

    [Fact]
    public async Task A_lone_last_write_becomes_visible_through_a_control_record()
    {
        var log = await NewLogAsync("lone");
        await using var writer = await log.OpenWriterAsync(new LogWriterOptions { CommitDelay = TimeSpan.FromMilliseconds(5) });
        var dlsn = await writer.WriteAsync(Record(42));
        var segment = Assert.Single(await log.GetSegmentsAsync());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long lac;
        do
        {
            await Task.Delay(20);
            lac = await (await Cluster.Client.OpenLedgerNoRecoveryAsync(segment.LedgerId)).ReadLastAddConfirmedAsync();
        }
        while (lac < dlsn.EntryId && DateTime.UtcNow < deadline);

        Assert.True(lac >= dlsn.EntryId, $"the LAC {lac} never covered the lone write's entry {dlsn.EntryId}");
        var records = await ReadAllAsync(log);
        Assert.Equal([42L], records.Select(r => r.TxId));
    }
}

public sealed class SqliteAsyncLogWriterTests : AsyncLogWriterTests
{
    protected override string? MetadataUri => null;
}

public sealed class EtcdAsyncLogWriterTests(EtcdServer etcd) : AsyncLogWriterTests, IClassFixture<EtcdServer>
{
    protected override string? MetadataUri { get; } = etcd.NewStoreUri();
}
