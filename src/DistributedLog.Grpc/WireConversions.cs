using DistributedLog.Protocol.Errors;
using CoreDlsn = DistributedLog.Protocol.Records.Dlsn;

namespace DistributedLog.Grpc;

/// <summary>Conversions between the core types and the service tier's messages.</summary>
public static class WireConversions
{
    /// <summary>The success header (shared; never mutate it).</summary>
    public static readonly V1.ResponseHeader Ok = new() { Code = (int)StatusCode.Success };

    /// <summary>The message form of a DLSN.</summary>
    public static V1.Dlsn ToWire(this CoreDlsn dlsn) => new()
    {
        LogSegmentSequenceNo = dlsn.LogSegmentSequenceNo,
        EntryId = dlsn.EntryId,
        SlotId = dlsn.SlotId,
    };

    /// <summary>The core DLSN of a message (validated: a missing or negative position is a bad request).</summary>
    /// <exception cref="DlException">With <see cref="StatusCode.BadRequest"/> when the message is missing or invalid.</exception>
    public static CoreDlsn ToCore(this V1.Dlsn? dlsn, string field)
    {
        if (dlsn is null)
        {
            throw new DlException(StatusCode.BadRequest, $"The request has no '{field}' DLSN.");
        }

        if (dlsn.LogSegmentSequenceNo < 0 || dlsn.EntryId < 0 || dlsn.SlotId < 0)
        {
            throw new DlException(StatusCode.BadRequest,
                $"'{field}' is not a valid DLSN ({dlsn.LogSegmentSequenceNo}:{dlsn.EntryId}:{dlsn.SlotId}): its parts are non-negative.");
        }

        return new CoreDlsn(dlsn.LogSegmentSequenceNo, dlsn.EntryId, dlsn.SlotId);
    }

    /// <summary>The header carrying an error.</summary>
    public static V1.ResponseHeader ToHeader(this DlException error) => new()
    {
        Code = (int)error.Code,
        Message = error.Message,
        Location = error is OwnershipMovedException moved ? moved.Owner : "",
    };

    /// <summary>Whether a header reports success.</summary>
    public static bool IsOk(this V1.ResponseHeader? header) => header is null || header.Code == (int)StatusCode.Success;

    /// <summary>Throws the typed exception a non-success header carries.</summary>
    public static void ThrowIfError(this V1.ResponseHeader? header)
    {
        if (!header.IsOk())
        {
            throw header!.ToException();
        }
    }

    /// <summary>The typed exception a non-success header carries.</summary>
    public static DlException ToException(this V1.ResponseHeader header) =>
        DlExceptions.FromStatus((StatusCode)header.Code, header.Message, header.Location);
}
