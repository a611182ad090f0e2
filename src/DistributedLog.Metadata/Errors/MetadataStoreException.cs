using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata;

/// <summary>
/// A metadata store failed or refused an operation. <see cref="DlException.Code"/> is
/// <see cref="StatusCode.MetadataStoreError"/> for failures of the store itself, <see cref="StatusCode.MetadataException"/>
/// for invalid or inconsistent metadata, and <see cref="StatusCode.UnsupportedMetadataVersion"/> for data written by a
/// newer version; <see cref="IsRetryable"/> says whether the same operation may succeed later.
/// </summary>
public class MetadataStoreException : DlException
{
    private readonly bool _isRetryable;

    /// <summary>Creates the exception.</summary>
    /// <param name="code">The status code.</param>
    /// <param name="message">What failed and, where it helps, what to do.</param>
    /// <param name="isRetryable">Whether retrying the operation may succeed.</param>
    /// <param name="inner">The cause.</param>
    public MetadataStoreException(StatusCode code, string message, bool isRetryable, Exception? inner = null)
        : base(code, message, inner) => _isRetryable = isRetryable;

    /// <inheritdoc />
    public override bool IsRetryable => _isRetryable;
}

/// <summary>
/// The metadata store could not be reached or did not answer in time (etcd down, partitioned or without a leader;
/// the SQLite file busy). Retryable: the same operation may succeed once the store is back.
/// </summary>
public sealed class MetadataStoreUnavailableException : MetadataStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, against which store, and what to do.</param>
    /// <param name="outcomeUnknown">Whether the failed operation was a write that may nevertheless have been applied.</param>
    /// <param name="inner">The cause.</param>
    public MetadataStoreUnavailableException(string message, bool outcomeUnknown, Exception? inner = null)
        : base(StatusCode.MetadataStoreError, message, isRetryable: true, inner) => OutcomeUnknown = outcomeUnknown;

    /// <summary>Whether the failed operation was a write that may nevertheless have been applied (the request may have
    /// reached the store before the connection broke or the deadline passed). Re-read the keys before retrying it.</summary>
    public bool OutcomeUnknown { get; }
}

/// <summary>A key was to be bound to a lease that does not exist: it expired or was revoked. The owner has lost what
/// the lease guarded (a registration, a writer's ownership). Not retryable with the same lease.</summary>
public sealed class LeaseNotFoundException : MetadataStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="leaseId">The lease.</param>
    /// <param name="message">What failed.</param>
    /// <param name="inner">The cause.</param>
    public LeaseNotFoundException(long leaseId, string message, Exception? inner = null)
        : base(StatusCode.MetadataException, message, isRetryable: false, inner) => LeaseId = leaseId;

    /// <summary>The lease that was not found.</summary>
    public long LeaseId { get; }
}

/// <summary>A watch can no longer guarantee that every change is delivered (the store was closed, the consumer fell too
/// far behind, or the history it needed was compacted). List the keys again and establish a new watch.</summary>
public sealed class MetadataWatchLostException : MetadataStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Why the watch was lost.</param>
    /// <param name="inner">The cause.</param>
    public MetadataWatchLostException(string message, Exception? inner = null)
        : base(StatusCode.MetadataStoreError, message, isRetryable: true, inner) { }
}
