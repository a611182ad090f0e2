using System.Buffers.Binary;
using System.Diagnostics;
using DistributedLog.Cli.Commands;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Writers;
using HdrHistogram;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// <c>dlog bench log --tail</c> (core library only): one writer writes records at a fixed rate, each carrying its send time
/// (<see cref="Stopwatch.GetTimestamp"/>) in its first 8 bytes; a tailing reader opened at the end of the log reads them in
/// the same process and records the write-to-read latency of each in an HdrHistogram (after a 2 s warm-up).
/// </summary>
internal static class LogTailBench
{
    public static async Task<(BenchReport Report, string AckLatency)> RunAsync(string metadataUri, LogWriterOptions options, double rate, int payloadSize, TimeSpan duration,
        CancellationToken cancellationToken)
    {
        if (rate <= 0 || payloadSize < sizeof(long))
        {
            throw new ArgumentException($"--rate must be > 0 and --size at least {sizeof(long)} (the send timestamp) with --tail.");
        }

        await using var ns = await DistributedLogNamespace.OpenAsync(metadataUri, "bench", cancellationToken: cancellationToken);
        string name = $"tail-{Guid.NewGuid().ToString("N")[..8]}";
        await ns.CreateLogAsync(name, cancellationToken);
        var log = ns.OpenLog(name);
        long errors = 0;
        var acks = new LongHistogram(TimeStamp.Minutes(1), 3);
        try
        {
            await using var writer = await log.OpenWriterAsync(options, cancellationToken);
            // One record first, so that the segment is open and the reader starts at the tail of an in-progress segment.
            await writer.WriteAsync(new LogRecord(0, new byte[payloadSize]));
            await using var reader = await log.OpenReaderAsync(ReadPosition.FromTxId(1), cancellationToken: cancellationToken);

            long warmupEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
            long end = warmupEnd + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var histogram = new LongHistogram(TimeStamp.Minutes(1), 3);
            long written = 0;
            long readSoFar = 0;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
            int gen0Before = GC.CollectionCount(0), gen2Before = GC.CollectionCount(2);
            var reading = Task.Run(async () =>
            {
                long read = 0, measured = 0;
                while (!stop.IsCancellationRequested)
                {
                    LogRecordWithDlsn record;
                    try
                    {
                        record = await reader.ReadNextAsync(stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    long now = Stopwatch.GetTimestamp();
                    long sent = BinaryPrimitives.ReadInt64LittleEndian(record.Payload.Span);
                    read++;
                    Volatile.Write(ref readSoFar, read);
                    if (record.TxId != read)
                    {
                        // Records carry txids 1, 2, 3, …: anything else is a record lost, repeated or out of order.
                        throw new InvalidDataException($"The tailing reader got txid {record.TxId} at {record.Dlsn} where {read} was expected.");
                    }

                    if (sent >= warmupEnd && sent < end)
                    {
                        histogram.RecordValue(now - sent);
                        measured++;
                    }

                }

                return measured;
            }, cancellationToken);

            // Paced writing: every pass sends the records due by now (rate × elapsed), then yields for about a millisecond.
            long started = Stopwatch.GetTimestamp();
            long txId = 0;
            var lastWrite = Task.CompletedTask;
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                if (now >= end)
                {
                    break;
                }

                long due = (long)((now - started) * rate / Stopwatch.Frequency);
                while (txId < due)
                {
                    byte[] payload = new byte[payloadSize];
                    long sent = Stopwatch.GetTimestamp();
                    BinaryPrimitives.WriteInt64LittleEndian(payload, sent);
                    var write = writer.WriteAsync(new LogRecord(++txId, payload));
                    Interlocked.Increment(ref written);
                    lastWrite = AwaitWriteAsync(write, sent >= warmupEnd ? sent : 0);
                }

                await Task.Delay(1, cancellationToken);
            }

            await lastWrite;

            // Every record is written and acknowledged: wait (up to 30 s) until the reader has them all, then stop it.
            long caughtUpBy = Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency);
            while (Volatile.Read(ref readSoFar) < Volatile.Read(ref written) && !reading.IsCompleted && Stopwatch.GetTimestamp() < caughtUpBy)
            {
                await Task.Delay(10, cancellationToken);
            }

            bool caughtUp = Volatile.Read(ref readSoFar) == Volatile.Read(ref written);
            await stop.CancelAsync();
            long measured = await reading.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully && caughtUp)
                {
                    return t.Result;
                }

                Console.Error.WriteLine(t.Exception?.InnerException is { } e
                    ? $"dlog: the tailing reader failed: {e.Message}"
                    : $"dlog: the tailing reader read {Volatile.Read(ref readSoFar)} of {Volatile.Read(ref written)} records within 30 s of the last write.");
                return -1;
            }, TaskScheduler.Default);
            await writer.CloseAsync(cancellationToken);
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
            double seconds = duration.TotalSeconds;
            double ToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            if (measured < 0)
            {
                errors++;
                measured = 0;
            }

            string ackLatency = $" — write-to-acknowledgement ms: p50 {ToMs(acks.GetValueAtPercentile(50)):F3}  p99 {ToMs(acks.GetValueAtPercentile(99)):F3}  " +
                $"p99.9 {ToMs(acks.GetValueAtPercentile(99.9)):F3}";
            return (new BenchReport($"tailing reader of log bench/{name} at {rate:N0} records/s (write-to-read latency)", 0, payloadSize, seconds,
                measured, measured / seconds, measured * (double)payloadSize / seconds / 1e6, errors,
                ToMs(histogram.GetValueAtPercentile(50)), ToMs(histogram.GetValueAtPercentile(90)), ToMs(histogram.GetValueAtPercentile(99)),
                ToMs(histogram.GetValueAtPercentile(99.9)), ToMs(histogram.GetMaxValue()),
                written == 0 ? 0 : allocated / (double)written, GC.CollectionCount(0) - gen0Before, GC.CollectionCount(2) - gen2Before), ackLatency);
        }
        finally
        {
            await ns.DeleteLogAsync(name, CancellationToken.None);
        }

        async Task AwaitWriteAsync(ValueTask<Dlsn> write, long measuredFrom)
        {
            try
            {
                await write;
                if (measuredFrom != 0)
                {
                    lock (acks)
                    {
                        acks.RecordValue(Stopwatch.GetTimestamp() - measuredFrom);
                    }
                }
            }
            catch (DlException)
            {
                Interlocked.Increment(ref errors);
            }
        }
    }
}
