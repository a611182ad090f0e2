using DistributedLog.Protocol.Checksums;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Limits;
using DistributedLog.Writers;

namespace DistributedLog.Proxy.Ownership;

/// <summary>A log whose writer this proxy holds: the writer, its limiter, and the txid sequencer for records sent without one.</summary>
internal sealed class OwnedLog(string name, AsyncLogWriter writer, RateLimiter limiter, TimeProvider time)
{
    private readonly Lock _writing = new();
    private long _lastTxId = writer.LastTxId;
    private long _lastUsed = time.GetTimestamp();

    public string Name { get; } = name;

    public AsyncLogWriter Writer { get; } = writer;

    public RateLimiter Limiter { get; } = limiter;

    /// <summary>When a request last used the log (a <see cref="TimeProvider"/> timestamp).</summary>
    public long LastUsed => Volatile.Read(ref _lastUsed);

    public void Touch() => Volatile.Write(ref _lastUsed, time.GetTimestamp());

    /// <summary>
    /// Converts a wire record (<see cref="ToRecord"/>) and hands it to the writer, as one step: concurrent requests
    /// cannot hand the writer assigned txids out of order. A refused record (checksum, size, a txid below the highest
    /// one written) comes back as a faulted write; the writer stays usable.
    /// </summary>
    /// <param name="wire">The record as received.</param>
    /// <param name="txId">The record's txid (the given or assigned one; the given one even when refused).</param>
    /// <param name="accepted">
    /// Whether the writer took the record: if false it was refused and is certainly not written; if true and the write
    /// fails, its outcome is unknown (see <see cref="AsyncLogWriter.WriteAsync(LogRecord, out bool)"/>).
    /// </param>
    public ValueTask<Protocol.Records.Dlsn> Write(Grpc.V1.Record wire, out long txId, out bool accepted)
    {
        lock (_writing)
        {
            LogRecord record;
            try
            {
                record = ToRecord(wire);
            }
            catch (DlException e)
            {
                txId = wire.HasTxid ? wire.Txid : -1;
                accepted = false;
                return ValueTask.FromException<Protocol.Records.Dlsn>(e);
            }

            txId = record.TxId;
            return Services.RecordSets.Refined(Writer.WriteAsync(record, out accepted), accepted, wire, Name);
        }
    }

    /// <summary>
    /// Writes the records of one request in order, as one step (no other request's record lands between them), and
    /// stops at the first refused one: the returned list holds the writes handed to the writer, the last of them
    /// faulted when a record was refused; records after it were not handed to the writer, so they are not written.
    /// </summary>
    public IReadOnlyList<(long TxId, int Bytes, Task<Protocol.Records.Dlsn> Write)> WriteAll(IReadOnlyList<Grpc.V1.Record> wires)
    {
        var writes = new List<(long, int, Task<Protocol.Records.Dlsn>)>(wires.Count);
        lock (_writing)
        {
            foreach (var wire in wires)
            {
                var write = Write(wire, out long txId, out bool accepted);
                writes.Add((txId, wire.Payload.Length, write.AsTask()));
                if (!accepted)
                {
                    break;
                }
            }
        }

        return writes;
    }

    /// <summary>
    /// The core record of a wire record: the payload's checksum verified when one is sent, the txid assigned when
    /// none is (DistributedLog's TimeSequencer: the wall clock in milliseconds, never below the last txid + 1). The
    /// record's own constructor checks the txid and the size.
    /// </summary>
    /// <exception cref="ChecksumFailedException">The payload does not match its CRC32C.</exception>
    /// <exception cref="LogRecordTooLongException">The payload is over the maximum record size.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">A negative or reserved txid.</exception>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/>: a record set with a malformed header.</exception>
    public LogRecord ToRecord(Grpc.V1.Record wire)
    {
        var payload = wire.Payload.Memory;
        var flags = Services.RecordSets.FlagsOf(wire, Name);
        if (wire.HasCrc32C && Crc32C.Compute(payload.Span) != wire.Crc32C)
        {
            throw new ChecksumFailedException(
                $"The payload of a record for log '{Name}' does not match its CRC32C ({wire.Crc32C:x8}); it was corrupted on the way and is not written.");
        }

        if (wire.HasTxid)
        {
            var given = new LogRecord(wire.Txid, payload, flags);
            long seen;
            do
            {
                seen = Volatile.Read(ref _lastTxId);
            }
            while (given.TxId > seen && Interlocked.CompareExchange(ref _lastTxId, given.TxId, seen) != seen);
            return given;
        }

        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        long txId, last;
        do
        {
            last = Volatile.Read(ref _lastTxId);
            txId = Math.Max(last + 1, now);
        }
        while (Interlocked.CompareExchange(ref _lastTxId, txId, last) != last);
        return new LogRecord(txId, payload, flags);
    }
}
