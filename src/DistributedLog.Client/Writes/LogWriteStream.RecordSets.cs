using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Client.Writes;

/// <summary>Record sets on a write stream: one stream message entry per set, acknowledged in order with the other writes.</summary>
public sealed partial class LogWriteStream
{
    /// <summary>
    /// Writes the records of <paramref name="set"/> as one record set; completes with each record's DLSN once the set is
    /// durable, in write order with the stream's other writes. The builder is left as it was (its payload is copied first).
    /// </summary>
    /// <param name="set">A non-empty set.</param>
    /// <param name="txId">The set's txid; the proxy assigns one when null.</param>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public async Task<LogRecordSetWriteResult> WriteRecordSetAsync(LogRecordSetBuilder set, long? txId = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        int count = set.Count;
        var result = await Send(_client.ToWire(set.ToPayload(), txId, recordSet: true));
        return new LogRecordSetWriteResult(new RecordSetDlsns(result.Dlsn, count), result.TxId);
    }

    /// <summary>Writes an already sealed record-set payload (<see cref="RecordSetFormat"/>) as one record set; its header is checked first.</summary>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/>: the payload's header is malformed.</exception>
    public async Task<LogRecordSetWriteResult> WriteRecordSetAsync(ReadOnlyMemory<byte> recordSet, long? txId = null)
    {
        int count;
        try
        {
            count = RecordSetFormat.ReadCount(recordSet.Span);
        }
        catch (InvalidEnvelopedEntryException e)
        {
            throw new DlException(StatusCode.BadRequest, $"Malformed record set for log '{Log}', not sent: {e.Message}", e);
        }

        var result = await Send(_client.ToWire(recordSet, txId, recordSet: true));
        return new LogRecordSetWriteResult(new RecordSetDlsns(result.Dlsn, count), result.TxId);
    }
}
