using DistributedLog.Protocol.Records;

namespace DistributedLog.Client;

/// <summary>An acknowledged record set: the DLSN of each of its records (consecutive slots of one entry) and the set's transaction id.</summary>
/// <param name="Dlsns">The records' positions; <c>Dlsns[i]</c> is inner record <c>i</c>'s.</param>
/// <param name="TxId">The set's transaction id, shared by its records (assigned by the proxy when the caller gave none).</param>
public readonly record struct LogRecordSetWriteResult(RecordSetDlsns Dlsns, long TxId);
