using DistributedLog.Protocol.Errors;

namespace DistributedLog.Protocol.Records;

/// <summary>
/// One record as a writer hands it to a log: an application-given transaction id, a payload and flags.
/// Its position (<see cref="Dlsn"/>) is assigned when the write is acknowledged; read records come back as
/// <see cref="LogRecordWithDlsn"/>.
/// </summary>
/// <remarks>
/// Persisted form: <c>long metadata | long txid | int payloadLength | payload</c> (big-endian), so a record takes
/// <see cref="HeaderSize"/> + payload bytes (<see cref="PersistedSize"/>), which may not exceed <see cref="MaxRecordSize"/>.
/// </remarks>
public sealed class LogRecord
{
    /// <summary>Largest persisted size of one record: 1 MiB − 8 KiB (DistributedLog's <c>MAX_LOGRECORD_SIZE</c>).</summary>
    public const int MaxRecordSize = (1024 * 1024) - (8 * 1024);

    /// <summary>Largest size of one storage entry (a batch of records): 1 MiB − 4 KiB (DistributedLog's <c>MAX_LOGRECORDSET_SIZE</c>).</summary>
    public const int MaxEntrySize = (1024 * 1024) - (4 * 1024);

    /// <summary>Bytes a record takes in addition to its payload: metadata (8), txid (8) and payload length (4).</summary>
    public const int HeaderSize = LogRecordFormat.HeaderSize;

    /// <summary>Largest payload of one record: <see cref="MaxRecordSize"/> − <see cref="HeaderSize"/>.</summary>
    public const int MaxPayloadSize = MaxRecordSize - HeaderSize;

    /// <summary>The txid of the end-of-stream record; no user record may use it.</summary>
    public const long EndOfStreamTxId = long.MaxValue;

    private static readonly byte[] ControlBytes = "control"u8.ToArray();
    private static readonly byte[] KeepAliveBytes = "keepalive"u8.ToArray();
    private static readonly byte[] EndOfStreamBytes = "endOfStream"u8.ToArray();

    /// <summary>Creates a user record.</summary>
    /// <param name="txId">Application transaction id: 0 ≤ txid &lt; <see cref="long.MaxValue"/>.</param>
    /// <param name="payload">The payload; it is not copied, so do not change it until the write completes.</param>
    /// <exception cref="TransactionIdOutOfOrderException"><paramref name="txId"/> is negative or <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="LogRecordTooLongException">The payload is larger than <see cref="MaxPayloadSize"/>.</exception>
    public LogRecord(long txId, ReadOnlyMemory<byte> payload) : this(txId, payload, LogRecordFlags.None)
    {
    }

    /// <summary>Creates a record with explicit flags.</summary>
    /// <param name="txId">Transaction id (see <see cref="Validate"/> for the rules).</param>
    /// <param name="payload">The payload; it is not copied.</param>
    /// <param name="flags">The flags.</param>
    /// <exception cref="ArgumentException">The flags are unknown or inconsistent.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">The txid is not allowed for these flags.</exception>
    /// <exception cref="LogRecordTooLongException">The payload is larger than <see cref="MaxPayloadSize"/>.</exception>
    public LogRecord(long txId, ReadOnlyMemory<byte> payload, LogRecordFlags flags)
    {
        Validate(txId, flags, payload.Length);
        TxId = txId;
        Payload = payload;
        Flags = flags;
    }

    /// <summary>The payload of control records: <c>"control"</c>.</summary>
    public static ReadOnlySpan<byte> ControlPayload => "control"u8;

    /// <summary>The payload of keep-alive control records: <c>"keepalive"</c>.</summary>
    public static ReadOnlySpan<byte> KeepAlivePayload => "keepalive"u8;

    /// <summary>The payload of the end-of-stream record: <c>"endOfStream"</c>.</summary>
    public static ReadOnlySpan<byte> EndOfStreamPayload => "endOfStream"u8;

    /// <summary>The application transaction id.</summary>
    public long TxId { get; }

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The flags.</summary>
    public LogRecordFlags Flags { get; }

    /// <summary>Whether this is a control record (never delivered to readers).</summary>
    public bool IsControl => (Flags & LogRecordFlags.Control) != 0;

    /// <summary>Whether this is the end-of-stream record.</summary>
    public bool IsEndOfStream => (Flags & LogRecordFlags.EndOfStream) != 0;

    /// <summary>Whether the payload is a record set.</summary>
    public bool IsRecordSet => (Flags & LogRecordFlags.RecordSet) != 0;

    /// <summary>Bytes this record takes when persisted: <see cref="HeaderSize"/> + payload length.</summary>
    public int PersistedSize => HeaderSize + Payload.Length;

    /// <summary>Creates a control record (payload <c>"control"</c>) carrying the last user txid.</summary>
    /// <param name="txId">The last user txid written (≥ 0).</param>
    public static LogRecord CreateControl(long txId) => new(txId, ControlBytes, LogRecordFlags.Control);

    /// <summary>Creates a keep-alive control record (payload <c>"keepalive"</c>) carrying the last user txid.</summary>
    /// <param name="txId">The last user txid written (≥ 0).</param>
    public static LogRecord CreateKeepAlive(long txId) => new(txId, KeepAliveBytes, LogRecordFlags.Control);

    /// <summary>Creates the end-of-stream record: control + end-of-stream, txid <see cref="long.MaxValue"/>, payload <c>"endOfStream"</c>.</summary>
    public static LogRecord CreateEndOfStream() =>
        new(EndOfStreamTxId, EndOfStreamBytes, LogRecordFlags.Control | LogRecordFlags.EndOfStream);

    /// <summary>
    /// Checks a record before it is written. Rules: flags are known; end-of-stream comes with control and txid
    /// <see cref="long.MaxValue"/>; control records are not record sets; a user record's txid is 0 ≤ txid &lt;
    /// <see cref="long.MaxValue"/>; a control record's txid is ≥ 0; the persisted size is at most <see cref="MaxRecordSize"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The flags are unknown or inconsistent.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">The txid is not allowed for these flags.</exception>
    /// <exception cref="LogRecordTooLongException">The record is too large.</exception>
    public static void Validate(long txId, LogRecordFlags flags, int payloadLength)
    {
        if ((flags & ~LogRecordFormat.KnownFlags) != 0)
        {
            throw new ArgumentException($"Unknown record flags 0x{(int)flags:X}.", nameof(flags));
        }

        bool control = (flags & LogRecordFlags.Control) != 0;
        if ((flags & LogRecordFlags.EndOfStream) != 0)
        {
            if (!control)
            {
                throw new ArgumentException("An end-of-stream record must also be a control record.", nameof(flags));
            }

            if (txId != EndOfStreamTxId)
            {
                throw new TransactionIdOutOfOrderException(
                    $"The end-of-stream record must have txid {EndOfStreamTxId} (long.MaxValue), not {txId}.");
            }
        }
        else if (txId < 0)
        {
            throw new TransactionIdOutOfOrderException($"Transaction id {txId} is negative; txids must be >= 0.");
        }
        else if (!control && txId == EndOfStreamTxId)
        {
            throw new TransactionIdOutOfOrderException(
                $"Transaction id {txId} (long.MaxValue) is reserved for the end-of-stream record.");
        }

        if (control && (flags & LogRecordFlags.RecordSet) != 0)
        {
            throw new ArgumentException("A control record cannot be a record set.", nameof(flags));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        if (payloadLength > MaxPayloadSize)
        {
            throw new LogRecordTooLongException(
                $"A record of {payloadLength} payload bytes ({(long)payloadLength + HeaderSize} persisted) exceeds the " +
                $"maximum record size of {MaxRecordSize} bytes; split the payload or store it elsewhere and log a reference.");
        }
    }
}
