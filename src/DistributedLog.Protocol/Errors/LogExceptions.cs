namespace DistributedLog.Protocol.Errors;

/// <summary>
/// A transaction id is not allowed where it was used: negative, the reserved end-of-stream value
/// (<see cref="long.MaxValue"/>) on a user record, or lower than the log's highest txid when a new segment starts.
/// </summary>
public sealed class TransactionIdOutOfOrderException : DlException
{
    /// <summary>Creates the exception.</summary>
    public TransactionIdOutOfOrderException(string message) : base(StatusCode.TransactionOutOfOrder, message) { }

    /// <summary>Creates the exception for a txid that is lower than the highest one already written.</summary>
    /// <param name="txId">The txid that was refused.</param>
    /// <param name="highestTxId">The highest txid the log already holds.</param>
    public TransactionIdOutOfOrderException(long txId, long highestTxId)
        : base(StatusCode.TransactionOutOfOrder,
            $"Transaction id {txId} is lower than the highest one already written ({highestTxId}); " +
            "use non-decreasing txids.")
    {
        TxId = txId;
        HighestTxId = highestTxId;
    }

    /// <summary>The refused txid, when known.</summary>
    public long? TxId { get; }

    /// <summary>The highest txid the log already held, when known.</summary>
    public long? HighestTxId { get; }
}

/// <summary>
/// The log was sealed by an end-of-stream record: writes are refused and readers have reached its end.
/// (Named apart from <see cref="System.IO.EndOfStreamException"/> so the two never get mixed up by a using directive.)
/// </summary>
public sealed class LogEndOfStreamException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogEndOfStreamException(string message) : base(StatusCode.EndOfStream, message) { }
}

/// <summary>A stream (log) name is not valid: empty, too long, or containing characters that are not allowed.</summary>
public sealed class InvalidStreamNameException : DlException
{
    /// <summary>Creates the exception.</summary>
    public InvalidStreamNameException(string message) : base(StatusCode.InvalidStreamName, message) { }
}

/// <summary>The log does not exist; create it first (or let the namespace create it on first write).</summary>
public sealed class LogNotFoundException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogNotFoundException(string message) : base(StatusCode.LogNotFound, message) { }
}

/// <summary>The log already exists.</summary>
public sealed class LogExistsException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogExistsException(string message) : base(StatusCode.LogExists, message) { }
}

/// <summary>The log holds no records (for example when asking for its last record).</summary>
public sealed class LogEmptyException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogEmptyException(string message) : base(StatusCode.LogEmpty, message) { }
}

/// <summary>The requested position lies in the truncated part of the log; start reading at or after the truncation point.</summary>
public sealed class TruncatedPositionException : DlException
{
    /// <summary>Creates the exception.</summary>
    public TruncatedPositionException(string message) : base(StatusCode.TruncatedTransaction, message) { }
}

/// <summary>The log segment does not exist (it was deleted or never created).</summary>
public sealed class LogSegmentNotFoundException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogSegmentNotFoundException(string message) : base(StatusCode.LogSegmentNotFound, message) { }
}

/// <summary>A write was cancelled because an earlier write on the same writer failed; nothing after a failure is written.</summary>
public sealed class WriteCancelledException : DlException
{
    /// <summary>Creates the exception.</summary>
    public WriteCancelledException(string message, Exception? inner = null)
        : base(StatusCode.WriteCancelledException, message, inner) { }
}

/// <summary>A rate or capacity limit rejected the request; retry later or lower the load.</summary>
public sealed class OverCapacityException : DlException
{
    /// <summary>Creates the exception.</summary>
    public OverCapacityException(string message) : base(StatusCode.OverCapacity, message) { }
}

/// <summary>The object (writer, reader, namespace, client) was already closed.</summary>
public sealed class AlreadyClosedException : DlException
{
    /// <summary>Creates the exception.</summary>
    public AlreadyClosedException(string message) : base(StatusCode.AlreadyClosed, message) { }
}

/// <summary>The writer's ownership lock could not be acquired or was lost to another writer.</summary>
public sealed class LockingException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LockingException(string message, Exception? inner = null) : base(StatusCode.LockingException, message, inner) { }

    /// <summary>The endpoint of the write proxy that holds the lock, when the holder is one.</summary>
    public string? OwnerEndpoint { get; init; }
}

/// <summary>
/// The log is owned by another proxy (DistributedLog's FOUND, 302): the request was not executed here; send it to
/// <see cref="Owner"/>.
/// </summary>
public sealed class OwnershipMovedException : DlException
{
    /// <summary>Creates the exception.</summary>
    public OwnershipMovedException(string message, string owner) : base(StatusCode.Found, message) => Owner = owner;

    /// <summary>The owning proxy's endpoint (for example <c>http://127.0.0.1:7001</c>); empty when unknown.</summary>
    public string Owner { get; }

    /// <inheritdoc />
    public override bool IsRetryable => true;
}
