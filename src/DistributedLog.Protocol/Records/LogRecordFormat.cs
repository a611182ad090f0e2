using System.Buffers.Binary;

namespace DistributedLog.Protocol.Records;

/// <summary>
/// The wire form of one record (DistributedLog's, big-endian):
/// <c>long metadata | long txid | int payloadLength | payload</c>. Metadata bits 0-15 hold the flags, bits 16-47 the
/// 1-based position within the segment, bits 48-63 are zero.
/// </summary>
internal static class LogRecordFormat
{
    public const int HeaderSize = (2 * sizeof(long)) + sizeof(int);

    private const long FlagsMask = 0xFFFF;
    private const int PositionShift = 16;
    private const long PositionMask = 0xFFFF_FFFFL << PositionShift;
    private const long UnusedMask = ~(FlagsMask | PositionMask);

    /// <summary>Every flag this implementation knows.</summary>
    public const LogRecordFlags KnownFlags = LogRecordFlags.Control | LogRecordFlags.EndOfStream | LogRecordFlags.RecordSet;

    public static long EncodeMetadata(LogRecordFlags flags, int position) =>
        ((long)flags & FlagsMask) | ((long)(uint)position << PositionShift);

    /// <summary>Splits a metadata word; false if it has unknown flags, unused bits or a position above int.MaxValue.</summary>
    public static bool TryDecodeMetadata(long metadata, out LogRecordFlags flags, out int position)
    {
        flags = (LogRecordFlags)(metadata & FlagsMask);
        long rawPosition = (metadata & PositionMask) >>> PositionShift;
        position = (int)rawPosition;
        return (metadata & UnusedMask) == 0 && (flags & ~KnownFlags) == 0 && rawPosition <= int.MaxValue;
    }

    public static void WriteHeader(Span<byte> destination, long txId, LogRecordFlags flags, int position, int payloadLength)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, EncodeMetadata(flags, position));
        BinaryPrimitives.WriteInt64BigEndian(destination[8..], txId);
        BinaryPrimitives.WriteInt32BigEndian(destination[16..], payloadLength);
    }
}
