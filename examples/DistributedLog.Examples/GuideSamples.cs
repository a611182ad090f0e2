using System.Text;
using DistributedLog.Ledgers;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Subscriptions;
using DistributedLog.Writers;

namespace DistributedLog.Examples;

/// <summary>
/// The code samples of docs/guide.md, one method per section. The text between <c>#region guide-…</c> and its
/// <c>#endregion</c> is exactly what the guide shows (check with examples/check-guide.sh).
/// </summary>
public static class GuideSamples
{
    /// <summary>Guide: "Open a namespace".</summary>
    public static async Task<DistributedLogNamespace> OpenNamespaceAsync(string metadataUri, CancellationToken cancellationToken = default)
    {
        #region guide-open-namespace
        // metadataUri: "etcd://127.0.0.1:2379/dl" (shared) or "file:///var/lib/dl/meta.db" (one process only)
        DistributedLogNamespace ns = await DistributedLogNamespace.OpenAsync(
            metadataUri,
            "default",
            new LedgerClientOptions { EnsembleSize = 3, WriteQuorumSize = 3, AckQuorumSize = 2 },
            cancellationToken: cancellationToken);
        // ... use it, then: await ns.DisposeAsync() (closes the ledger client and the metadata store)
        #endregion
        return ns;
    }

    /// <summary>Guide: "Create a log".</summary>
    public static async Task<LogManager> CreateLogAsync(DistributedLogNamespace ns, string logName, CancellationToken cancellationToken = default)
    {
        #region guide-create-log
        // Log names are paths such as "orders/events".
        try
        {
            await ns.CreateLogAsync(logName, cancellationToken);
        }
        catch (LogExistsException)
        {
            // Created earlier (or by another process): carry on.
        }

        IReadOnlyList<string> logs = await ns.ListLogsAsync(prefix: "orders/", cancellationToken);
        LogManager log = ns.OpenLog(logName);
        #endregion
        Console.WriteLine($"{logs.Count} log(s) under orders/");
        return log;
    }

    /// <summary>Guide: "Write".</summary>
    public static async Task<Dlsn> WriteAsync(LogManager log, CancellationToken cancellationToken = default)
    {
        #region guide-write
        // Opening the writer takes ownership of the log (one writer at a time) and recovers what a crashed writer left.
        await using AsyncLogWriter writer = await log.OpenWriterAsync(
            new LogWriterOptions { Compression = CompressionCodec.Lz4, FlushInterval = TimeSpan.FromMilliseconds(2) },
            cancellationToken);

        // Txids are the application's own, non-decreasing; carry on after the last one written.
        long txId = writer.LastTxId + 1;

        // One record: completes with its DLSN once durable on the ack quorum.
        Dlsn first = await writer.WriteAsync(new LogRecord(txId++, Encoding.UTF8.GetBytes("order 1 created")));

        // Many records without waiting for each: start them all, then await; completions arrive in write order.
        var pending = new List<Task<Dlsn>>();
        for (int i = 2; i <= 100; i++)
        {
            pending.Add(writer.WriteAsync(new LogRecord(txId++, Encoding.UTF8.GetBytes($"order {i} created"))).AsTask());
        }

        await Task.WhenAll(pending);

        // Bulk: stops at the first record that fails; each task tells how its record fared.
        IReadOnlyList<Task<Dlsn>> bulk = await writer.WriteBulkAsync(
        [
            new LogRecord(txId++, "order 101 created"u8.ToArray()),
            new LogRecord(txId++, "order 102 created"u8.ToArray()),
        ]);
        Dlsn lastWritten = await bulk[^1];

        // Send what is buffered now and wait until everything written so far is acknowledged.
        await writer.FlushAsync(cancellationToken);

        // Complete the segment and release ownership (DisposeAsync does the same).
        await writer.CloseAsync(cancellationToken);
        #endregion
        Console.WriteLine($"wrote {first} .. {lastWritten}");
        return first;
    }

    /// <summary>Guide: "End of stream".</summary>
    public static async Task MarkEndOfStreamAsync(LogManager log, CancellationToken cancellationToken = default)
    {
        #region guide-end-of-stream
        await using (AsyncLogWriter writer = await log.OpenWriterAsync(cancellationToken: cancellationToken))
        {
            // Seals the log: later writes fail with LogEndOfStreamException, readers' `await foreach` loops end.
            await writer.MarkEndOfStreamAsync(cancellationToken);
        }

        bool isSealed = await log.IsEndOfStreamMarkedAsync(cancellationToken);
        #endregion
        Console.WriteLine($"sealed: {isSealed}");
    }

    /// <summary>Guide: "Read".</summary>
    public static async Task ReadAsync(LogManager log, Dlsn dlsn, CancellationToken cancellationToken = default)
    {
        #region guide-read
        // From a DLSN: the first record at or after it.
        await using (LogReader reader = await log.OpenReaderAsync(dlsn, cancellationToken: cancellationToken))
        {
            LogRecordWithDlsn record = await reader.ReadNextAsync(cancellationToken);
            Console.WriteLine($"{record.Dlsn} txid {record.TxId}: {Encoding.UTF8.GetString(record.Payload.Span)}");
        }

        // From a txid: the first record whose txid is not less than it.
        await using (LogReader reader = await log.OpenReaderAsync(txId: 10, cancellationToken: cancellationToken))
        {
            // Up to 50 records: whatever arrives within 20 ms, but never none (it waits for the first).
            IReadOnlyList<LogRecordWithDlsn> records = await reader.ReadBulkAsync(50, TimeSpan.FromMilliseconds(20), cancellationToken);
            Console.WriteLine($"{records.Count} records from txid {records[0].TxId}");
        }

        // From the earliest record still in the log (after truncation: the first one kept).
        await using (LogReader reader = await log.OpenReaderAsync(ReadPosition.Earliest, cancellationToken: cancellationToken))
        {
            LogRecordWithDlsn oldest = await reader.ReadNextAsync(cancellationToken);
            Console.WriteLine($"oldest: {oldest.Dlsn}");
        }

        // Positions without reading.
        Dlsn firstDlsn = await log.GetFirstDlsnAsync(cancellationToken);
        Dlsn lastDlsn = await log.GetLastDlsnAsync(cancellationToken);
        long count = await log.GetRecordCountAsync(cancellationToken);
        Dlsn atTxId = await log.GetDlsnNotLessThanTxIdAsync(10, cancellationToken);
        #endregion
        Console.WriteLine($"first {firstDlsn}, last {lastDlsn}, {count} records, txid 10 at {atTxId}");
    }

    /// <summary>Guide: "Tail".</summary>
    public static async Task<int> TailAsync(LogManager log, CancellationToken cancellationToken = default)
    {
        #region guide-tail
        int seen = 0;
        var options = new LogReaderOptions { ReadAheadEntries = 128 };
        await using LogReader reader = await log.OpenReaderAsync(ReadPosition.Earliest, options, cancellationToken);

        // Reads what is there, then waits for new records as the writer commits them. The loop ends when the log is
        // sealed with end of stream; cancelling the token stops it with OperationCanceledException.
        await foreach (LogRecordWithDlsn record in reader.WithCancellation(cancellationToken))
        {
            Console.WriteLine($"{record.Dlsn}: {Encoding.UTF8.GetString(record.Payload.Span)}");
            seen++;
        }
        #endregion
        return seen;
    }

    /// <summary>Guide: "Truncate".</summary>
    public static async Task<bool> TruncateAsync(LogManager log, Dlsn keepFrom, CancellationToken cancellationToken = default)
    {
        #region guide-truncate
        // Records before keepFrom become unreadable (a reader positioned there gets TruncatedPositionException): the
        // completed segments that end before it are dropped and their ledgers deleted. The segment being written is never
        // truncated. Returns false for Dlsn.Invalid.
        bool truncated = await log.TruncateAsync(keepFrom, cancellationToken);
        #endregion
        return truncated;
    }

    /// <summary>Guide: "Retention".</summary>
    public static async Task<int> ApplyRetentionAsync(LogManager log, CancellationToken cancellationToken = default)
    {
        #region guide-retention
        // Time-based retention: truncate the completed segments that were completed more than 7 days ago.
        // Run it periodically (a timer or a hosted service); it returns how many segments went.
        int purged = await log.PurgeOlderThanAsync(TimeSpan.FromDays(7), cancellationToken: cancellationToken);
        #endregion
        return purged;
    }

    /// <summary>Guide: "Subscriptions".</summary>
    public static async Task<Dlsn?> SubscribeAsync(LogManager log, string subscriberId, CancellationToken cancellationToken = default)
    {
        #region guide-subscriptions
        SubscriptionsStore subscriptions = log.Subscriptions;

        // Holds the subscriber's read lock (a second reader with the same id fails with LockingException) and starts
        // just after its committed position (at the earliest record the first time).
        await using (SubscriberReader subscriber = await log.OpenSubscriberReaderAsync(subscriberId, cancellationToken: cancellationToken))
        {
            int handled = 0;
            Dlsn? lastHandled = null;
            await foreach (LogRecordWithDlsn record in subscriber.Reader.WithCancellation(cancellationToken))
            {
                // ... handle the record ...
                lastHandled = record.Dlsn;
                if (++handled % 100 == 0)
                {
                    // Commit every 100 records: after a restart, at most 100 are handled again.
                    await subscriptions.AdvanceAsync(subscriberId, record.Dlsn, cancellationToken);
                }
            }

            // The log was sealed: commit the rest.
            if (lastHandled is Dlsn last)
            {
                await subscriptions.AdvanceAsync(subscriberId, last, cancellationToken);
            }
        }

        Dlsn? committed = await subscriptions.GetPositionAsync(subscriberId, cancellationToken);
        IReadOnlyDictionary<string, Dlsn> everyone = await subscriptions.GetPositionsAsync(cancellationToken);

        // Retention that respects subscribers: keep everything from the slowest one's position on.
        if (everyone.Count > 0)
        {
            await log.TruncateAsync(everyone.Values.Min(), cancellationToken);
        }
        #endregion
        return committed;
    }

    /// <summary>Guide: "Errors".</summary>
    public static async Task HandleErrorsAsync(LogManager log, long txId, CancellationToken cancellationToken = default)
    {
        #region guide-errors
        try
        {
            await using AsyncLogWriter writer = await log.OpenWriterAsync(
                new LogWriterOptions { LockTimeout = TimeSpan.FromSeconds(5) }, cancellationToken);
            await writer.WriteAsync(new LogRecord(txId, "payload"u8.ToArray()));
        }
        catch (LockingException e)
        {
            // Another writer owns the log (still, after LockTimeout).
            Console.WriteLine($"busy: {e.Message}");
        }
        catch (LogNotFoundException)
        {
            Console.WriteLine($"no log '{log.Name}': create it first");
        }
        catch (LogEndOfStreamException)
        {
            Console.WriteLine("the log is sealed");
        }
        catch (TransactionIdOutOfOrderException e)
        {
            Console.WriteLine($"txid {e.TxId} is below the log's highest txid {e.HighestTxId}");
        }
        catch (DlException e) when (e.IsRetryable)
        {
            // Transient (bookies or metadata store unreachable, timeouts): retry with back-off.
            Console.WriteLine($"retry later: {(int)e.Code} {e.Code}");
        }
        catch (DlException e)
        {
            // Every deliberate error is a DlException with a status code (DistributedLog's numbers).
            Console.WriteLine($"{(int)e.Code} {e.Code}: {e.Message}");
        }
        #endregion
    }
}
