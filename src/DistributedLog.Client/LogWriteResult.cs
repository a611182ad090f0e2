using DistributedLog.Protocol.Records;

namespace DistributedLog.Client;

/// <summary>An acknowledged write: the record's position and its transaction id (assigned by the proxy when the caller gave none).</summary>
/// <param name="Dlsn">Where the record is in the log.</param>
/// <param name="TxId">The record's transaction id.</param>
public readonly record struct LogWriteResult(Dlsn Dlsn, long TxId);
