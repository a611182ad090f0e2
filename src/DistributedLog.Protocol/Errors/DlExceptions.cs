namespace DistributedLog.Protocol.Errors;

/// <summary>Turns a status code received from a peer (a proxy's response header) back into the typed exception.</summary>
public static class DlExceptions
{
    /// <summary>
    /// The exception for <paramref name="code"/>: the same type the core library raises for it, so code written against
    /// the library catches the same errors from the service tier.
    /// </summary>
    /// <param name="code">The status code (not <see cref="StatusCode.Success"/>).</param>
    /// <param name="message">The peer's message.</param>
    /// <param name="location">For <see cref="StatusCode.Found"/>: the owner's endpoint.</param>
    public static DlException FromStatus(StatusCode code, string message, string? location = null) => code switch
    {
        StatusCode.Found => new OwnershipMovedException(message, location ?? ""),
        StatusCode.TooLargeRecord => new LogRecordTooLongException(message),
        StatusCode.AlreadyClosed => new AlreadyClosedException(message),
        StatusCode.LockingException => new LockingException(message),
        StatusCode.LogNotFound => new LogNotFoundException(message),
        StatusCode.LogExists => new LogExistsException(message),
        StatusCode.LogEmpty => new LogEmptyException(message),
        StatusCode.TruncatedTransaction => new TruncatedPositionException(message),
        StatusCode.EndOfStream => new LogEndOfStreamException(message),
        StatusCode.TransactionOutOfOrder => new TransactionIdOutOfOrderException(message),
        StatusCode.WriteCancelledException => new WriteCancelledException(message),
        StatusCode.OverCapacity => new OverCapacityException(message),
        StatusCode.InvalidStreamName => new InvalidStreamNameException(message),
        StatusCode.ChecksumFailed => new ChecksumFailedException(message),
        StatusCode.LogSegmentNotFound => new LogSegmentNotFoundException(message),
        StatusCode.LedgerFenced => new LedgerFencedException(message),
        _ => new DlException(code, message),
    };
}
