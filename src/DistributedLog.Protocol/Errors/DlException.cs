namespace DistributedLog.Protocol.Errors;

/// <summary>
/// Base of every error DistributedLog raises on purpose. <see cref="Code"/> tells what happened in a form a
/// program can switch on; the message tells a person what was wrong and, where it helps, what to do.
/// </summary>
public class DlException : Exception
{
    /// <summary>Creates an exception with a status code and a message.</summary>
    public DlException(StatusCode code, string message) : base(message) => Code = code;

    /// <summary>Creates an exception with a status code, a message and the cause.</summary>
    public DlException(StatusCode code, string message, Exception? inner) : base(message, inner) => Code = code;

    /// <summary>The status code of this error.</summary>
    public StatusCode Code { get; }

    /// <summary>Whether retrying the same operation may succeed (the error is transient).</summary>
    public virtual bool IsRetryable => Code is StatusCode.BookieUnavailable or StatusCode.TooManyRequests
        or StatusCode.Timeout or StatusCode.ServiceUnavailable or StatusCode.RetryableRead
        or StatusCode.MetadataStoreError or StatusCode.StreamNotReady or StatusCode.FlushTimeout;
}

/// <summary>Data failed its checksum or could not be decoded: it is corrupt and is never returned as good.</summary>
public sealed class ChecksumFailedException : DlException
{
    /// <summary>Creates the exception.</summary>
    public ChecksumFailedException(string message) : base(StatusCode.ChecksumFailed, message) { }
}

/// <summary>An entry or record set could not be decoded (bad header, lengths or codec).</summary>
public sealed class InvalidEnvelopedEntryException : DlException
{
    /// <summary>Creates the exception.</summary>
    public InvalidEnvelopedEntryException(string message) : base(StatusCode.InvalidEnvelopedEntry, message) { }
}

/// <summary>A record is larger than the maximum record size (1 MiB − 8 KiB).</summary>
public sealed class LogRecordTooLongException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LogRecordTooLongException(string message) : base(StatusCode.TooLargeRecord, message) { }
}

/// <summary>The peer sent something that violates the wire protocol; the connection is closed.</summary>
public sealed class WireProtocolException : DlException
{
    /// <summary>Creates the exception.</summary>
    public WireProtocolException(string message) : base(StatusCode.ProtocolError, message) { }
}

/// <summary>The ledger was fenced: a recovering writer took it over, so this writer's adds are refused.
/// The outcome of the add that saw this error is unknown (it may or may not be in the ledger).</summary>
public sealed class LedgerFencedException : DlException
{
    /// <summary>Creates the exception.</summary>
    public LedgerFencedException(string message) : base(StatusCode.LedgerFenced, message) { }
}

/// <summary>A bookie refused an operation or failed it; <see cref="DlException.Code"/> says why.</summary>
public sealed class BookieException : DlException
{
    /// <summary>Creates the exception.</summary>
    public BookieException(StatusCode code, string message, Exception? inner = null) : base(code, message, inner) { }
}
