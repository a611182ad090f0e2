using System.Buffers.Binary;

namespace DistributedLog.Bookie.Wire;

/// <summary>Operations of the bookie protocol.</summary>
public enum BookieOp : byte
{
    /// <summary>Version handshake; must be the first frame on a connection.</summary>
    Handshake = 1,
    /// <summary>Add an entry (flag <see cref="BookieProtocol.FlagRecoveryAdd"/> ignores the fence).</summary>
    AddEntry = 2,
    /// <summary>Read an entry (flag <see cref="BookieProtocol.FlagFence"/> fences the ledger first; entry id -1 reads the last entry).</summary>
    ReadEntry = 3,
    /// <summary>Read a ledger's last-add-confirmed and last entry id.</summary>
    ReadLac = 4,
    /// <summary>Wait until the ledger's LAC reaches an entry id (or a timeout passes), then return that entry.</summary>
    LongPollRead = 5,
    /// <summary>Fence a ledger: normal adds are refused from then on.</summary>
    Fence = 6,
    /// <summary>Delete a ledger.</summary>
    DeleteLedger = 7,
    /// <summary>Health check.</summary>
    Ping = 8,
}

/// <summary>The state a bookie reports in handshakes and pings.</summary>
public enum BookieState : byte
{
    /// <summary>Accepting adds and reads.</summary>
    Writable = 0,
    /// <summary>Serving reads only (disk full or I/O error).</summary>
    ReadOnly = 1,
}

/// <summary>
/// The bookie wire protocol: length-prefixed binary frames over TCP, pipelined and matched by request id
/// (responses may come back in any order). All integers little-endian.
/// <code>
/// frame:    u32 length (of what follows) | u8 op (| 0x80 in responses) | u8 flags | u16 reserved(0) | u64 requestId | body
/// response body: i32 status (a StatusCode; 200 = success) | i64 a | i64 b | i64 c | payload (the rest of the frame)
///
/// op          request body                                          response a, b, c | payload
/// Handshake   u32 magic "DLBK" | u16 minVersion | u16 maxVersion     version, state, 0 | bookie id (UTF-8)
/// AddEntry    u8 keyLength | masterKey | packaged entry              ledgerId, entryId, 0
/// ReadEntry   i64 ledgerId | i64 entryId (-1: last) | u8 keyLength | masterKey (used with the fence flag)
///                                                                     ledgerId, entryId, lac | packaged entry
/// ReadLac     i64 ledgerId                                           ledgerId, lac, lastEntryId
/// LongPoll    i64 ledgerId | i64 entryId | u32 timeoutMs             ledgerId, entryId, lac | packaged entry (when lac >= entryId)
/// Fence       i64 ledgerId | u8 keyLength | masterKey                ledgerId, lac, lastEntryId
/// Delete      i64 ledgerId                                           ledgerId, 0, 0
/// Ping        (empty)                                                state, 0, 0
/// /// </code>
/// A frame longer than <see cref="MaxFrameSize"/>, a body too short for its operation, or any frame before the
/// handshake is a protocol violation: the bookie answers with <c>ProtocolError</c> when it can and closes the connection.
/// </summary>
public static class BookieProtocol
{
    /// <summary>"DLBK" little-endian.</summary>
    public const uint Magic = 0x4B424C44;

    /// <summary>The protocol version this build speaks.</summary>
    public const ushort Version = 1;

    /// <summary>Bytes of the length prefix.</summary>
    public const int LengthPrefixSize = 4;

    /// <summary>Bytes of the frame header after the length prefix (op, flags, reserved, request id).</summary>
    public const int HeaderSize = 12;

    /// <summary>Largest frame (after the length prefix): one maximum entry plus headroom.</summary>
    public const int MaxFrameSize = PackagedEntry.MaxSize + 1024;

    /// <summary>Largest master key.</summary>
    public const int MaxMasterKeyLength = 64;

    /// <summary>Response bit of the op byte.</summary>
    public const byte ResponseBit = 0x80;

    /// <summary>AddEntry flag: recovery add, allowed on a fenced ledger and on a read-only bookie.</summary>
    public const byte FlagRecoveryAdd = 0x01;

    /// <summary>ReadEntry flag: fence the ledger before reading.</summary>
    public const byte FlagFence = 0x02;

    /// <summary>Bytes of a response body before its payload (status and three values).</summary>
    public const int ResponseFixedSize = 4 + 3 * 8;

    /// <summary>Writes a frame header (length prefix included) and returns the header size.</summary>
    public static int WriteHeader(Span<byte> destination, int bodyLength, byte op, byte flags, ulong requestId)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, HeaderSize + bodyLength);
        destination[4] = op;
        destination[5] = flags;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], requestId);
        return LengthPrefixSize + HeaderSize;
    }
}
