namespace DistributedLog.Protocol.Records;

/// <summary>
/// Flags of a <see cref="LogRecord"/>, stored in bits 0-15 of the record's metadata word (DistributedLog's values).
/// </summary>
[Flags]
public enum LogRecordFlags
{
    /// <summary>A plain user record.</summary>
    None = 0,

    /// <summary>A control record: written by the log library to advance the commit point; never shown to readers.</summary>
    Control = 0x1,

    /// <summary>The end-of-stream marker (always together with <see cref="Control"/>); it seals the log.</summary>
    EndOfStream = 0x2,

    /// <summary>The payload is a record set (a client-side batch) whose inner records each take their own slot.</summary>
    RecordSet = 0x4,
}
