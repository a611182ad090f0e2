namespace DistributedLog.Protocol.Errors;

/// <summary>
/// Status codes carried by every <see cref="DlException"/> and by every response of the service tier.
/// The 2xx–10xx values are DistributedLog's own (HTTP-like) codes and keep their numbers; the 7xx range
/// is ours, for storage-tier (bookie) outcomes that DistributedLog wrapped in <c>BKTransmitException</c>.
/// </summary>
public enum StatusCode
{
    /// <summary>The operation succeeded.</summary>
    Success = 200,
    /// <summary>The client was closed.</summary>
    ClientClosed = 301,
    /// <summary>The log is owned elsewhere; the response names the owner (redirect).</summary>
    Found = 302,
    /// <summary>The request was denied.</summary>
    RequestDenied = 403,
    /// <summary>A record exceeds the maximum record size.</summary>
    TooLargeRecord = 413,

    /// <summary>An unexpected server-side failure.</summary>
    InternalServerError = 500,
    /// <summary>The operation is not implemented.</summary>
    NotImplemented = 501,
    /// <summary>The object was already closed.</summary>
    AlreadyClosed = 502,
    /// <summary>The service is unavailable.</summary>
    ServiceUnavailable = 503,
    /// <summary>The ownership lock could not be acquired or was lost.</summary>
    LockingException = 504,
    /// <summary>The metadata store failed (ZooKeeper in DistributedLog, etcd or SQLite here).</summary>
    MetadataStoreError = 505,
    /// <summary>Metadata was invalid or inconsistent.</summary>
    MetadataException = 506,
    /// <summary>Transmitting an entry to the storage tier failed.</summary>
    BkTransmitError = 507,
    /// <summary>A flush did not complete in time.</summary>
    FlushTimeout = 508,
    /// <summary>The log has no records.</summary>
    LogEmpty = 509,
    /// <summary>The log does not exist.</summary>
    LogNotFound = 510,
    /// <summary>The requested position was truncated.</summary>
    TruncatedTransaction = 511,
    /// <summary>The log was sealed by an end-of-stream record.</summary>
    EndOfStream = 512,
    /// <summary>A transaction id went backwards where that is not allowed.</summary>
    TransactionOutOfOrder = 513,
    /// <summary>A write failed.</summary>
    WriteException = 514,
    /// <summary>The stream is unavailable on this server.</summary>
    StreamUnavailable = 515,
    /// <summary>A write was cancelled because an earlier one failed.</summary>
    WriteCancelledException = 516,
    /// <summary>A rate or capacity limit rejected the request.</summary>
    OverCapacity = 517,
    /// <summary>The stream is not ready yet.</summary>
    StreamNotReady = 518,
    /// <summary>The region is unavailable.</summary>
    RegionUnavailable = 519,
    /// <summary>An entry could not be decoded.</summary>
    InvalidEnvelopedEntry = 520,
    /// <summary>The metadata version is not supported.</summary>
    UnsupportedMetadataVersion = 521,
    /// <summary>The log already exists.</summary>
    LogExists = 522,
    /// <summary>Data failed its checksum: it is corrupt.</summary>
    ChecksumFailed = 523,
    /// <summary>Too many streams on this server.</summary>
    TooManyStreams = 524,
    /// <summary>The log segment does not exist.</summary>
    LogSegmentNotFound = 525,
    /// <summary>The end of a log segment was reached.</summary>
    EndOfLogSegment = 526,
    /// <summary>The log segment is truncated.</summary>
    LogSegmentIsTruncated = 527,

    /// <summary>An unexpected error.</summary>
    Unexpected = 600,
    /// <summary>The operation was interrupted or cancelled.</summary>
    Interrupted = 601,
    /// <summary>The stream (log) name is invalid.</summary>
    InvalidStreamName = 602,
    /// <summary>The operation is not valid in the current state.</summary>
    IllegalState = 603,

    /// <summary>The ledger was fenced by a recovering writer: this writer may no longer add to it.</summary>
    LedgerFenced = 700,
    /// <summary>The bookie has no such ledger.</summary>
    NoSuchLedger = 701,
    /// <summary>The bookie has no such entry.</summary>
    NoSuchEntry = 702,
    /// <summary>The bookie is read-only (disk full or I/O errors) and refuses adds.</summary>
    BookieReadOnly = 703,
    /// <summary>The bookie could not be reached or the connection was lost.</summary>
    BookieUnavailable = 704,
    /// <summary>The master key (writer token) did not match the ledger's.</summary>
    Unauthorized = 705,
    /// <summary>The bookie is overloaded and rejected the request; retry later.</summary>
    TooManyRequests = 706,
    /// <summary>The request was malformed.</summary>
    BadRequest = 707,
    /// <summary>The peer violated the wire protocol.</summary>
    ProtocolError = 708,
    /// <summary>A storage I/O error.</summary>
    IoError = 709,
    /// <summary>The operation timed out.</summary>
    Timeout = 710,
    /// <summary>Not enough writable bookies to form or repair an ensemble.</summary>
    NotEnoughBookies = 711,
    /// <summary>The ledger is closed: no more adds.</summary>
    LedgerClosed = 712,
    /// <summary>A compare-and-set on metadata lost against a concurrent change.</summary>
    MetadataVersionConflict = 713,

    /// <summary>A read may be retried.</summary>
    RetryableRead = 1000,
    /// <summary>A read failed.</summary>
    LogReadError = 1001,
    /// <summary>A read was cancelled.</summary>
    ReadCancelledException = 1002,
}
