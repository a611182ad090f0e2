using DistributedLog.Grpc.V1;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Proxy.Services;

/// <summary>
/// Record sets through the proxy (DistributedLog's <c>WriteContext.isRecordSet</c>): a wire record flagged
/// <c>record_set</c> is passed to the log's writer as one record with the <see cref="LogRecordFlags.RecordSet"/> flag,
/// its bytes untouched. The proxy checks only the set's header (version, codec, lengths, count; no decompression); the
/// writer checks the records before it takes the set. Malformed sets are refused as bad requests (707), naming what is
/// wrong; nothing of them is written and the log stays writable.
/// </summary>
internal static class RecordSets
{
    /// <summary>The flags of the core record for <paramref name="wire"/>, its record-set header checked.</summary>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/> when the set's header is malformed.</exception>
    public static LogRecordFlags FlagsOf(Record wire, string log)
    {
        if (!wire.RecordSet)
        {
            return LogRecordFlags.None;
        }

        _ = CountOf(wire, log);
        return LogRecordFlags.RecordSet;
    }

    /// <summary>How many records <paramref name="wire"/> carries: the set's declared count (header checked), else 1.</summary>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/> when the set's header is malformed.</exception>
    public static int CountOf(Record wire, string log)
    {
        if (!wire.RecordSet)
        {
            return 1;
        }

        try
        {
            return RecordSetFormat.ReadCount(wire.Payload.Span);
        }
        catch (InvalidEnvelopedEntryException e)
        {
            throw Malformed(log, e);
        }
    }

    /// <summary>
    /// A set the writer refused as malformed (its records, past the header) becomes a bad request like one refused here;
    /// any other outcome is returned as is.
    /// </summary>
    public static ValueTask<Protocol.Records.Dlsn> Refined(ValueTask<Protocol.Records.Dlsn> write, bool accepted, Record wire, string log)
    {
        if (accepted || !wire.RecordSet || !write.IsFaulted)
        {
            return write;
        }

        var task = write.AsTask();
        return task.Exception?.InnerException is InvalidEnvelopedEntryException e
            ? ValueTask.FromException<Protocol.Records.Dlsn>(Malformed(log, e))
            : new ValueTask<Protocol.Records.Dlsn>(task);
    }

    private static DlException Malformed(string log, InvalidEnvelopedEntryException e) =>
        new(StatusCode.BadRequest, $"Malformed record set for log '{log}', not written: {e.Message}");
}
