using DistributedLog.Protocol.Errors;

namespace DistributedLog.Readers;

/// <summary>
/// A reader waited longer than its <see cref="LogReaderOptions.IdleReaderErrorThreshold"/> without receiving any record
/// (DistributedLog's <c>IdleReaderException</c>). The reader stays failed; open a new one to carry on.
/// </summary>
public sealed class IdleReaderException : DlException
{
    /// <summary>Creates the exception.</summary>
    public IdleReaderException(string message) : base(StatusCode.LogReadError, message) { }
}
