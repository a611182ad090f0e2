using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Segments;
using Microsoft.Extensions.Time.Testing;
using static DistributedLog.Tests.Readers.ReaderCluster;

namespace DistributedLog.Tests.Readers;

public abstract class LogReaderTests(ReaderCluster fixture)
{
    /// <summary>Three completed segments: plain records, a record set, an LZ4 entry, control entries; sealed by end of stream.</summary>
    private async Task<SegmentBuilder> ThreeSegmentsAsync(string hint, bool endOfStream)
    {
        var log = await fixture.NewLogAsync(hint);
        await log.StartSegmentAsync(1);
        await log.WriteAsync(1, 2, 3);
        await log.WriteControlAsync();
        await log.WriteWithRecordSetAsync([4], setTxId: 5, setSize: 4);
        await log.WriteAsync(6);
        await log.CompleteSegmentAsync();

        await log.StartSegmentAsync(10);
        await log.WriteControlAsync();
        log.Codec = CompressionCodec.Lz4;
        await log.WriteAsync(10, 11);
        await log.WriteWithRecordSetAsync([], setTxId: 12, setSize: 3);
        log.Codec = CompressionCodec.None;
        await log.WriteAsync(13);
        await log.WriteControlAsync();
        await log.CompleteSegmentAsync();

        await log.StartSegmentAsync(20);
        await log.WriteAsync(20);
        await log.WriteAsync(21, 22);
        await log.CompleteSegmentAsync(endOfStream);
        return log;
    }

    [Fact]
    public async Task Reads_every_record_of_completed_segments_in_order_then_end_of_stream()
    {
        var log = await ThreeSegmentsAsync("all", endOfStream: true);
        Assert.Equal(18, log.Records.Count);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        var records = new List<LogRecordWithDlsn>();
        await foreach (var record in reader.WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token))
        {
            records.Add(record);
        }

        AssertRecords(log.Records, records);
        Assert.Equal(Enumerable.Range(0, 18).Select(i => (long)i), records.Select(r => r.SequenceId));

        // End of stream is sticky: every further read fails the same way.
        var first = await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadNextAsync());
        var second = await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadBulkAsync(5));
        Assert.Same(first, second);
    }

    [Fact]
    public async Task A_small_read_ahead_window_returns_the_same_records()
    {
        var log = await ThreeSegmentsAsync("window", endOfStream: true);
        var options = new LogReaderOptions { ReadAheadEntries = 1, ReadAheadBytes = 64, LongPollTimeout = TimeSpan.FromMilliseconds(500) };
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial), options);
        var records = await ReadAsync(reader, log.Records.Count);
        AssertRecords(log.Records, records);
        await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadNextAsync());
    }

    [Fact]
    public async Task Starts_at_a_dlsn_in_the_middle()
    {
        var log = await ThreeSegmentsAsync("dlsn", endOfStream: true);
        var all = log.Records;

        // Exactly at a record inside a record set.
        int k = all.ToList().FindIndex(r => r.TxId == 5) + 2;
        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(all[k].Dlsn)))
        {
            AssertRecords(all.Skip(k), await ReadAsync(reader, all.Count - k));
            await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadNextAsync());
        }

        // Between records: past the last slot of an entry, and at the control entry opening segment 2.
        var lastOfEntry = all.Last(r => r.Dlsn.LogSegmentSequenceNo == 1);
        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(1, lastOfEntry.Dlsn.EntryId, 99))))
        {
            var next = await reader.ReadNextAsync();
            Assert.Equal(new Dlsn(2, 1, 0), next.Dlsn);
        }

        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(2, 0, 0))))
        {
            Assert.Equal(10, (await reader.ReadNextAsync()).TxId);
        }

        // In segment 3, first entry, second record does not exist: the next entry's first record follows.
        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(3, 0, 1))))
        {
            Assert.Equal(21, (await reader.ReadNextAsync()).TxId);
        }
    }

    [Fact]
    public async Task Starts_at_a_txid_exact_between_and_below()
    {
        var log = await ThreeSegmentsAsync("txid", endOfStream: false);
        var all = log.Records;
        foreach (var (txId, expectedIndex) in new[] { (0L, 0), (1L, 0), (5L, 4), (7L, 9), (12L, 11), (14L, 15), (22L, 17) })
        {
            await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromTxId(txId));
            AssertRecords(all.Skip(expectedIndex), await ReadAsync(reader, all.Count - expectedIndex));
        }
    }

    [Fact]
    public async Task A_position_beyond_the_end_waits_for_new_records()
    {
        var log = await ThreeSegmentsAsync("beyond", endOfStream: false);
        await using var byTxId = await fixture.OpenAsync(log.Log, ReadPosition.FromTxId(100));
        await using var byDlsn = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(4, 0, 0)));
        await AssertNothingWithinAsync(byTxId, 300);
        await AssertNothingWithinAsync(byDlsn, 300);

        await log.StartSegmentAsync(30);
        var low = await log.WriteAsync(30, 99);
        var high = await log.WriteAsync(100, 101);
        await log.WriteControlAsync();
        AssertRecords([.. high], await ReadAsync(byTxId, 2));
        AssertRecords([.. low, .. high], await ReadAsync(byDlsn, 4));
    }

    [Fact]
    public async Task Tails_an_in_progress_segment_across_rolls_without_missing_or_repeating()
    {
        var log = await fixture.NewLogAsync("tail");
        await log.StartSegmentAsync(1);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        var read = new List<LogRecordWithDlsn>();
        var consumer = Task.Run(async () =>
        {
            await foreach (var record in reader)
            {
                read.Add(record);
            }
        });

        long txId = 1;
        for (int segment = 0; segment < 3; segment++)
        {
            if (segment > 0)
            {
                await log.StartSegmentAsync(txId);
            }

            for (int i = 0; i < 5; i++)
            {
                await log.WriteAsync(txId++, txId++);
                if (i % 2 == 0)
                {
                    await log.WriteControlAsync();
                }
            }

            // The last entry is not covered by the LAC: only the completion makes it visible (watch, then read to LastEntryId).
            await log.CompleteSegmentAsync(endOfStream: segment == 2);
        }

        await consumer.WaitAsync(TimeSpan.FromSeconds(20));
        AssertRecords(log.Records, read);
        Assert.Equal(30, read.Count);
    }

    /// <summary>
    /// Options under which a tailing reader can only learn of news through a mechanism: the long poll holds as long as a
    /// bookie allows (60 s) and the periodic re-listing is off for the test's life, both far above the 30 s a test waits —
    /// an answer within that wait comes from the bookie's LAC change or the metadata watch, not from a re-poll.
    /// </summary>
    private static LogReaderOptions NoRepoll(TimeProvider? time = null, TimeSpan? idleThreshold = null) => new()
    {
        LongPollTimeout = TimeSpan.FromSeconds(60),
        SegmentPollInterval = TimeSpan.FromHours(1),
        TimeProvider = time ?? TimeProvider.System,
        IdleReaderErrorThreshold = idleThreshold,
    };

    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_live_record_becomes_visible_when_the_writer_commits_it()
    {
        var log = await fixture.NewLogAsync("live");
        await log.StartSegmentAsync(1);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromTxId(0), NoRepoll());
        var first = await log.WriteAsync(1);
        await AssertNothingWithinAsync(reader, 300);

        var pending = reader.ReadNextAsync().AsTask();
        await log.WriteControlAsync();
        AssertRecords(first, [await pending.WaitAsync(HangGuard)]);
    }

    [Fact]
    public async Task The_segment_watch_wakes_a_tailing_reader_at_completion_and_at_a_new_segment()
    {
        var log = await fixture.NewLogAsync("watch");
        await log.StartSegmentAsync(1);
        var visible = await log.WriteAsync(1, 2);
        await log.WriteControlAsync();
        var lastOfSegment = await log.WriteAsync(3); // never covered by the LAC
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial), NoRepoll());
        AssertRecords(visible, await ReadAsync(reader, 2));
        await AssertNothingWithinAsync(reader, 300);

        var pending = reader.ReadNextAsync().AsTask();
        await log.CompleteSegmentAsync();
        AssertRecords(lastOfSegment, [await pending.WaitAsync(HangGuard)]);

        await AssertNothingWithinAsync(reader, 300); // now waiting for segment 2 to appear
        pending = reader.ReadNextAsync().AsTask();
        await log.StartSegmentAsync(4);
        var next = await log.WriteAsync(4);
        await log.WriteControlAsync();
        AssertRecords(next, [await pending.WaitAsync(HangGuard)]);
    }

    [Fact]
    public async Task Without_watch_events_the_poll_interval_still_finds_completion_and_new_segments()
    {
        var options = new LogReaderOptions { LongPollTimeout = TimeSpan.FromMilliseconds(300), SegmentPollInterval = TimeSpan.FromMilliseconds(500) };
        var log = await fixture.NewLogAsync("silent");
        await log.StartSegmentAsync(1);
        await log.WriteAsync(1);
        await using var reader = await LogReader.OpenAsync(fixture.Namespace, fixture.Cluster.Client, new SilentWatchStore(fixture.Cluster.Store),
            log.Log, ReadPosition.FromDlsn(Dlsn.Initial), options);
        await AssertNothingWithinAsync(reader, 200);
        await log.CompleteSegmentAsync();
        await log.StartSegmentAsync(2);
        await log.WriteAsync(2);
        await log.CompleteSegmentAsync(endOfStream: true);
        AssertRecords(log.Records, await ReadAsync(reader, 2));
        await Assert.ThrowsAsync<LogEndOfStreamException>(async () => await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_log_deleted_under_a_tailing_reader_fails_it_with_log_not_found()
    {
        var log = await fixture.NewLogAsync("deleted");
        await log.StartSegmentAsync(1);
        var first = await log.WriteAsync(1);
        await log.WriteControlAsync();
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        AssertRecords(first, await ReadAsync(reader, 1));
        await fixture.Namespace.DeleteLogAsync(log.Log);
        await Assert.ThrowsAsync<LogNotFoundException>(async () => await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Random_writes_rolls_and_reads_deliver_every_record_exactly_once(int seed)
    {
        var random = new Random(seed);
        var log = await fixture.NewLogAsync($"random{seed}");
        var options = new LogReaderOptions { ReadAheadEntries = random.Next(1, 5), LongPollTimeout = TimeSpan.FromMilliseconds(300), SegmentPollInterval = TimeSpan.FromSeconds(1) };
        await log.StartSegmentAsync(0);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial), options);
        var read = new List<LogRecordWithDlsn>();
        int readerSeed = random.Next();
        var consumer = Task.Run(async () =>
        {
            var r = new Random(readerSeed);
            while (true)
            {
                try
                {
                    if (r.Next(2) == 0)
                    {
                        read.Add(await reader.ReadNextAsync());
                    }
                    else
                    {
                        read.AddRange(await reader.ReadBulkAsync(r.Next(1, 8), TimeSpan.FromMilliseconds(r.Next(0, 30))));
                    }
                }
                catch (LogEndOfStreamException)
                {
                    return;
                }
            }
        });

        long txId = 0;
        for (int step = 0; step < 60; step++)
        {
            if (random.Next(6) == 0)
            {
                await Task.Delay(random.Next(1, 15)); // let the reader catch up to the tail now and then
            }

            switch (random.Next(10))
            {
                case < 6:
                    int n = random.Next(1, 4);
                    var txIds = new long[n];
                    for (int i = 0; i < n; i++)
                    {
                        txIds[i] = txId++;
                    }

                    log.Codec = random.Next(4) == 0 ? CompressionCodec.Lz4 : CompressionCodec.None;
                    await log.WriteAsync(txIds);
                    break;
                case < 7:
                    await log.WriteWithRecordSetAsync([txId++], txId++, random.Next(1, 5));
                    break;
                case < 9:
                    await log.WriteControlAsync();
                    break;
                default:
                    await log.CompleteSegmentAsync();
                    await log.StartSegmentAsync(txId);
                    break;
            }
        }

        await log.CompleteSegmentAsync(endOfStream: true);
        await consumer.WaitAsync(TimeSpan.FromSeconds(20));
        AssertRecords(log.Records, read);
    }

    [Fact]
    public async Task Concurrent_reads_are_served_in_call_order()
    {
        var log = await fixture.NewLogAsync("order");
        await log.StartSegmentAsync(1);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        var reads = Enumerable.Range(0, 4).Select(_ => reader.ReadNextAsync().AsTask()).ToList();
        await log.WriteAsync(1, 2);
        await log.WriteAsync(3, 4);
        await log.WriteControlAsync();
        var records = await Task.WhenAll(reads).WaitAsync(TimeSpan.FromSeconds(10));
        AssertRecords(log.Records, records);
    }

    [Fact]
    public async Task Truncated_positions_fail_by_dlsn_but_txid_starts_at_the_truncation_point()
    {
        var log = await ThreeSegmentsAsync("truncated", endOfStream: false);
        long ledger1 = await log.LedgerOfAsync(1);
        await log.MarkTruncatedAsync(1, TruncationStatus.Truncated);
        await log.MarkTruncatedAsync(2, TruncationStatus.PartiallyTruncated, new Dlsn(2, 2, 0));
        await fixture.Cluster.Client.DeleteLedgerAsync(ledger1); // a truncated segment is never read
        var active = log.Records.Where(r => r.Dlsn >= new Dlsn(2, 2, 0)).ToList();

        await Assert.ThrowsAsync<TruncatedPositionException>(() => fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial)));
        await Assert.ThrowsAsync<TruncatedPositionException>(() => fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(2, 1, 1))));

        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(new Dlsn(2, 2, 0))))
        {
            AssertRecords(active, await ReadAsync(reader, active.Count));
        }

        foreach (var txId in new long[] { 0, 3, 11 })
        {
            await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromTxId(txId));
            AssertRecords(active, await ReadAsync(reader, active.Count));
        }

        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.Earliest))
        {
            AssertRecords(active, await ReadAsync(reader, active.Count));
        }

        await using (var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromTxId(13)))
        {
            AssertRecords(active.Where(r => r.TxId >= 13), await ReadAsync(reader, active.Count(r => r.TxId >= 13)));
        }
    }

    [Fact]
    public async Task Reading_a_missing_log_fails_with_log_not_found()
    {
        await Assert.ThrowsAsync<LogNotFoundException>(() => fixture.OpenAsync("readers/no-such-log", ReadPosition.FromDlsn(Dlsn.Initial)));
        await Assert.ThrowsAsync<LogNotFoundException>(() => fixture.OpenAsync("readers/no-such-log", ReadPosition.FromTxId(0)));
    }

    [Fact]
    public async Task Read_bulk_returns_at_max_or_after_the_wait_and_waits_for_at_least_one()
    {
        var log = await fixture.NewLogAsync("bulk");
        await log.StartSegmentAsync(1);
        for (long t = 1; t <= 10; t++)
        {
            await log.WriteAsync(t);
        }

        await log.WriteControlAsync();
        // The reader's clock is a fake one, moved by hand: a wait passes exactly when the test says so.
        var time = new FakeTimeProvider();
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial), NoRepoll(time));

        // Enough records: returns with exactly max, without the wait passing.
        var four = await reader.ReadBulkAsync(4, TimeSpan.FromSeconds(30)).WaitAsync(HangGuard);
        Assert.Equal(4, four.Count);

        // Fewer than max: waits for max until the wait has passed, then returns what there is.
        var pending = reader.ReadBulkAsync(100, TimeSpan.FromMilliseconds(300));
        time.Advance(TimeSpan.FromMilliseconds(299));
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var some = await pending.WaitAsync(HangGuard);
        Assert.InRange(some.Count, 1, 6);
        var rest = await ReadAsync(reader, 6 - some.Count);
        AssertRecords(log.Records, [.. four, .. some, .. rest]);

        // None: waits past the wait for the first record, then returns what is there.
        var bulk = reader.ReadBulkAsync(5, TimeSpan.FromMilliseconds(100));
        time.Advance(TimeSpan.FromMilliseconds(500));
        await Task.Delay(100);
        Assert.False(bulk.IsCompleted);
        var more = await log.WriteAsync(11, 12);
        await log.WriteControlAsync();
        AssertRecords(more, await bulk.WaitAsync(HangGuard));

        // readBulk(n): what is available, no waiting for n.
        var last = await log.WriteAsync(13);
        await log.WriteControlAsync();
        AssertRecords(last, await reader.ReadBulkAsync(10).WaitAsync(HangGuard));
    }

    [Fact]
    public async Task An_idle_reader_fails_when_the_threshold_is_set_and_the_error_is_sticky()
    {
        var log = await fixture.NewLogAsync("idle");
        await log.StartSegmentAsync(1);
        var first = await log.WriteAsync(1);
        await log.WriteControlAsync();
        var time = new FakeTimeProvider();
        var options = NoRepoll(time, TimeSpan.FromMilliseconds(600));
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial), options);
        AssertRecords(first, [await reader.ReadNextAsync().AsTask().WaitAsync(HangGuard)]);

        // The threshold counts from the start of the read, on the reader's clock.
        var pending = reader.ReadNextAsync().AsTask();
        time.Advance(TimeSpan.FromMilliseconds(599));
        await Task.Delay(100);
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var idle = await Assert.ThrowsAsync<IdleReaderException>(() => pending.WaitAsync(HangGuard));
        Assert.Equal(StatusCode.LogReadError, idle.Code);

        await log.WriteAsync(2);
        await log.WriteControlAsync();
        Assert.Same(idle, await Assert.ThrowsAsync<IdleReaderException>(async () => await reader.ReadNextAsync()));
        Assert.Same(idle, await Assert.ThrowsAsync<IdleReaderException>(() => reader.ReadBulkAsync(3)));
    }

    [Fact]
    public async Task Without_the_threshold_a_reader_waits_and_a_cancelled_read_loses_nothing()
    {
        var log = await fixture.NewLogAsync("patient");
        await log.StartSegmentAsync(1);
        await using var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        await AssertNothingWithinAsync(reader, 700);
        var written = await log.WriteAsync(1, 2);
        await log.WriteControlAsync();
        AssertRecords(written, await ReadAsync(reader, 2));
    }

    [Fact]
    public async Task A_disposed_reader_refuses_reads()
    {
        var log = await fixture.NewLogAsync("disposed");
        await log.StartSegmentAsync(1);
        var reader = await fixture.OpenAsync(log.Log, ReadPosition.FromDlsn(Dlsn.Initial));
        var pending = reader.ReadNextAsync().AsTask();
        await reader.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await reader.ReadNextAsync());
    }
}

[Collection(SqliteReaderCollection.Name)]
public sealed class SqliteLogReaderTests(SqliteReaderCluster fixture) : LogReaderTests(fixture);

[Collection(EtcdReaderCollection.Name)]
public sealed class EtcdLogReaderTests(EtcdReaderCluster fixture) : LogReaderTests(fixture);
