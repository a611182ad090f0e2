namespace DistributedLog.Bookie.Client;

/// <summary>
/// A reference-counted owner of the buffer an entry is sent from (a ledger's pending add). A connection that sends the
/// entry straight from that buffer (a gather send, no copy) holds one reference from the moment it queues the entry
/// until the bytes are handed to the socket, so the buffer is never reused while it may still be read.
/// </summary>
public interface ISendBufferOwner
{
    /// <summary>Takes one more reference.</summary>
    void AddRef();

    /// <summary>Drops a reference taken with <see cref="AddRef"/>.</summary>
    void Release();
}
