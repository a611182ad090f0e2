using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Client;

/// <summary>Record sets (DistributedLog's <c>writeRecordSet</c>): many records in one request, stored as one unit.</summary>
public sealed partial class DistributedLogClient
{
    /// <summary>
    /// Writes the records of <paramref name="set"/> as one record set (one request, one entry, one txid): the proxy passes
    /// it to the log's writer without unpacking it. Completes with each record's DLSN once the set is durable. The builder
    /// is left as it was (its payload is copied first): reset it for the next set.
    /// </summary>
    /// <param name="log">The log.</param>
    /// <param name="set">A non-empty set.</param>
    /// <param name="txId">The set's txid; the proxy assigns one (time-based, increasing) when null.</param>
    /// <param name="cancellationToken">Abandons the call (the outcome is then unknown).</param>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public Task<LogRecordSetWriteResult> WriteRecordSetAsync(string log, LogRecordSetBuilder set, long? txId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(set);
        return WriteRecordSetAsync(log, set.ToPayload(), txId, cancellationToken);
    }

    /// <summary>
    /// Writes an already sealed record-set payload (<see cref="RecordSetFormat"/>, e.g. from <see cref="LogRecordSetBuilder.Seal"/>)
    /// as one record set. Its header is checked here before anything is sent.
    /// </summary>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/>: the payload's header is malformed.</exception>
    public async Task<LogRecordSetWriteResult> WriteRecordSetAsync(string log, ReadOnlyMemory<byte> recordSet, long? txId = null, CancellationToken cancellationToken = default)
    {
        int count;
        try
        {
            count = RecordSetFormat.ReadCount(recordSet.Span);
        }
        catch (InvalidEnvelopedEntryException e)
        {
            throw new DlException(StatusCode.BadRequest, $"Malformed record set for log '{log}', not sent: {e.Message}", e);
        }

        var result = await WriteAsync(log, ToWire(recordSet, txId, recordSet: true), cancellationToken);
        return new LogRecordSetWriteResult(new RecordSetDlsns(result.Dlsn, count), result.TxId);
    }
}
