using System.Buffers;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Server;

/// <summary>
/// One response waiting to be written to a connection. A value type: queueing it allocates nothing; an entry payload
/// travels in a buffer rented from <see cref="ArrayPool{T}.Shared"/> that the writer returns after sending.
/// </summary>
/// <remarks><see cref="Unslotted"/> marks a response to a frame that never took an in-flight slot (a frame rejected before parsing).</remarks>
internal readonly record struct BookieResponse(BookieOp Op, ulong RequestId, StatusCode Status, long A = 0, long B = 0, long C = 0,
    byte[]? Payload = null, int PayloadLength = 0, bool Unslotted = false)
{
    /// <summary>Returns the payload buffer to the pool.</summary>
    public void ReleasePayload()
    {
        if (Payload is not null)
        {
            ArrayPool<byte>.Shared.Return(Payload);
        }
    }
}

/// <summary>Where the bookie sends responses that complete later (after a journal sync, a long poll, a fence).</summary>
internal interface IResponseSink : Journal.IJournalCallback
{
    /// <summary>Queues a response for sending; never blocks. Takes ownership of the payload buffer.</summary>
    void Send(in BookieResponse response);
}
