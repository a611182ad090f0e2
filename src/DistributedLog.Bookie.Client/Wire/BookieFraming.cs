using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Wire;

/// <summary>A decoded response frame of the bookie protocol (see <see cref="BookieProtocol"/>); the payload points into the frame.</summary>
public readonly ref struct BookieResponseFrame
{
    /// <summary>The operation answered (without the response bit).</summary>
    public BookieOp Op { get; init; }

    /// <summary>The request id of the request answered.</summary>
    public ulong RequestId { get; init; }

    /// <summary>The status (a <see cref="StatusCode"/>; 200 is success).</summary>
    public StatusCode Status { get; init; }

    /// <summary>First value (meaning depends on the operation).</summary>
    public long A { get; init; }

    /// <summary>Second value.</summary>
    public long B { get; init; }

    /// <summary>Third value.</summary>
    public long C { get; init; }

    /// <summary>The payload (a packaged entry, or the bookie id in a handshake reply); empty when there is none.</summary>
    public ReadOnlySpan<byte> Payload { get; init; }
}

/// <summary>Cuts length-prefixed frames off a byte stream, and decodes response frames; shared by the bookie and its clients.</summary>
public static class BookieFraming
{
    /// <summary>Smallest response frame (after its length prefix): header and fixed response fields.</summary>
    public const int MinResponseLength = BookieProtocol.HeaderSize + BookieProtocol.ResponseFixedSize;

    /// <summary>
    /// Cuts one whole frame (after its length prefix) off the front of <paramref name="buffer"/>. Returns false when the
    /// frame is not complete yet. The length prefix is checked before anything waits for or copies the frame.
    /// </summary>
    /// <param name="buffer">Received bytes; advanced past the frame when one is returned.</param>
    /// <param name="minLength">Smallest legal frame length (<see cref="BookieProtocol.HeaderSize"/> for requests, <see cref="MinResponseLength"/> for responses).</param>
    /// <param name="frame">The frame, without its length prefix.</param>
    /// <exception cref="WireProtocolException">The length prefix is below <paramref name="minLength"/> or above <see cref="BookieProtocol.MaxFrameSize"/>.</exception>
    public static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, int minLength, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        if (buffer.Length < BookieProtocol.LengthPrefixSize)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[BookieProtocol.LengthPrefixSize];
        buffer.Slice(0, BookieProtocol.LengthPrefixSize).CopyTo(prefix);
        int length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        if (length < minLength || length > BookieProtocol.MaxFrameSize)
        {
            throw new WireProtocolException($"frame length {length} is outside [{minLength}, {BookieProtocol.MaxFrameSize}]");
        }

        if (buffer.Length < BookieProtocol.LengthPrefixSize + length)
        {
            return false;
        }

        frame = buffer.Slice(BookieProtocol.LengthPrefixSize, length);
        buffer = buffer.Slice(frame.End);
        return true;
    }

    /// <summary>
    /// Encodes a response frame's length prefix, header and fixed fields (status and three values) for a payload of
    /// <paramref name="payloadLength"/> bytes that follows them; returns the bytes written (the payload goes after).
    /// The inverse of <see cref="DecodeResponse"/>: the bookie uses this, so the layout lives in one place.
    /// </summary>
    public static int WriteResponseHead(Span<byte> destination, BookieOp op, ulong requestId, StatusCode status, long a, long b, long c, int payloadLength)
    {
        int offset = BookieProtocol.WriteHeader(destination, BookieProtocol.ResponseFixedSize + payloadLength, (byte)((byte)op | BookieProtocol.ResponseBit), 0,
            requestId);
        Span<byte> body = destination[offset..];
        BinaryPrimitives.WriteInt32LittleEndian(body, (int)status);
        BinaryPrimitives.WriteInt64LittleEndian(body[4..], a);
        BinaryPrimitives.WriteInt64LittleEndian(body[12..], b);
        BinaryPrimitives.WriteInt64LittleEndian(body[20..], c);
        return offset + BookieProtocol.ResponseFixedSize;
    }

    /// <summary>Decodes a response frame (the bytes after its length prefix).</summary>
    /// <exception cref="WireProtocolException">The frame is shorter than <see cref="MinResponseLength"/> or lacks the response bit.</exception>
    public static BookieResponseFrame DecodeResponse(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < MinResponseLength)
        {
            throw new WireProtocolException($"response frame of {frame.Length} bytes is shorter than {MinResponseLength}");
        }

        if ((frame[0] & BookieProtocol.ResponseBit) == 0)
        {
            throw new WireProtocolException($"response frame with op 0x{frame[0]:x2} lacks the response bit");
        }

        ReadOnlySpan<byte> body = frame[BookieProtocol.HeaderSize..];
        return new BookieResponseFrame
        {
            Op = (BookieOp)(frame[0] & ~BookieProtocol.ResponseBit),
            RequestId = BinaryPrimitives.ReadUInt64LittleEndian(frame[4..]),
            Status = (StatusCode)BinaryPrimitives.ReadInt32LittleEndian(body),
            A = BinaryPrimitives.ReadInt64LittleEndian(body[4..]),
            B = BinaryPrimitives.ReadInt64LittleEndian(body[12..]),
            C = BinaryPrimitives.ReadInt64LittleEndian(body[20..]),
            Payload = body[BookieProtocol.ResponseFixedSize..],
        };
    }
}
