using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Writers;

/// <summary>
/// Record sets on the core writer (DistributedLog's <c>writeRecordSet</c>): many records written as one record with the
/// <see cref="LogRecordFlags.RecordSet"/> flag, in one entry, with one transaction id; each inner record gets its own DLSN
/// (consecutive slots of that entry) and readers return them one by one.
/// </summary>
public static class LogWriterRecordSets
{
    /// <summary>
    /// Writes the records of <paramref name="set"/> as one record set with transaction id <paramref name="txId"/> and
    /// completes with the DLSN of each of them once the set is durable. The builder is left as it was (reset it for the
    /// next set); its payload is copied first, so it may be reused at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">A negative or reserved txid, or one below the highest already written.</exception>
    /// <exception cref="LogEndOfStreamException">The log was sealed.</exception>
    public static async ValueTask<RecordSetDlsns> WriteRecordSetAsync(this AsyncLogWriter writer, LogRecordSetBuilder set, long txId)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(set);
        int count = set.Count;
        var first = await writer.WriteAsync(set.Build(txId));
        return new RecordSetDlsns(first, count);
    }

    /// <summary>
    /// Writes <paramref name="payloads"/> as one record set with transaction id <paramref name="txId"/> (compressed with
    /// <paramref name="codec"/> when that shrinks it) and completes with the DLSN of each record.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="payloads"/> is empty.</exception>
    /// <exception cref="LogRecordTooLongException">The records do not fit in one set of <see cref="LogRecord.MaxRecordSize"/> bytes.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">A negative or reserved txid, or one below the highest already written.</exception>
    public static async ValueTask<RecordSetDlsns> WriteRecordSetAsync(this AsyncLogWriter writer, long txId, IReadOnlyList<ReadOnlyMemory<byte>> payloads,
        CompressionCodec codec = CompressionCodec.None)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(payloads);
        if (payloads.Count == 0)
        {
            throw new ArgumentException("A record set needs at least one record.", nameof(payloads));
        }

        LogRecord record;
        using (var set = new LogRecordSetBuilder(codec))
        {
            foreach (var payload in payloads)
            {
                set.Add(payload.Span);
            }

            record = set.Build(txId);
        }

        var first = await writer.WriteAsync(record);
        return new RecordSetDlsns(first, payloads.Count);
    }
}
