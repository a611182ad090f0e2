using System.Buffers.Binary;

namespace DistributedLog.Bookie.Wire;

/// <summary>What <see cref="BookieRequest.Decode"/> made of a request frame.</summary>
public enum RequestVerdict
{
    /// <summary>A well-formed request with valid values: serve it.</summary>
    Valid,
    /// <summary>Well framed but asking for something invalid (negative ids, an unknown operation): answer <c>BadRequest</c>, keep the connection.</summary>
    BadRequest,
    /// <summary>A body too short or inconsistent for its operation, or a handshake this bookie cannot accept: answer <c>ProtocolError</c> and close.</summary>
    Malformed,
}

/// <summary>
/// One decoded request frame of the bookie protocol (see <see cref="BookieProtocol"/> for the layout). Its spans point into
/// the frame. Fields an operation does not carry are zero (ids) or empty (spans).
/// </summary>
public readonly ref struct BookieRequest
{
    /// <summary>The operation.</summary>
    public BookieOp Op { get; init; }

    /// <summary>The flags byte.</summary>
    public byte Flags { get; init; }

    /// <summary>The request id the response must carry.</summary>
    public ulong RequestId { get; init; }

    /// <summary>Ledger id (every operation but Handshake and Ping; for AddEntry, the packaged entry's).</summary>
    public long LedgerId { get; init; }

    /// <summary>Entry id (ReadEntry, LongPollRead; for AddEntry, the packaged entry's).</summary>
    public long EntryId { get; init; }

    /// <summary>Long-poll timeout in milliseconds.</summary>
    public uint TimeoutMs { get; init; }

    /// <summary>Lowest protocol version the client speaks (Handshake).</summary>
    public ushort MinVersion { get; init; }

    /// <summary>Highest protocol version the client speaks (Handshake).</summary>
    public ushort MaxVersion { get; init; }

    /// <summary>The master key (AddEntry, ReadEntry, Fence).</summary>
    public ReadOnlySpan<byte> MasterKey { get; init; }

    /// <summary>The packaged entry (AddEntry); its checksum is not verified here.</summary>
    public ReadOnlySpan<byte> Entry { get; init; }

    /// <summary>Body length of an AddEntry request (see <see cref="WriteAddBody"/>).</summary>
    public static int AddBodyLength(int masterKeyLength, int entryLength) => 1 + masterKeyLength + entryLength;

    /// <summary>Writes an AddEntry body; with an empty <paramref name="entry"/> only the key part (the entry is sent after it).</summary>
    public static void WriteAddBody(Span<byte> body, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> entry)
    {
        body[0] = (byte)masterKey.Length;
        masterKey.CopyTo(body[1..]);
        entry.CopyTo(body[(1 + masterKey.Length)..]);
    }

    /// <summary>Body length of a ReadEntry request.</summary>
    public static int ReadBodyLength(int masterKeyLength) => 17 + masterKeyLength;

    /// <summary>Writes a ReadEntry body (entry id -1: the last entry).</summary>
    public static void WriteReadBody(Span<byte> body, long ledgerId, long entryId, ReadOnlySpan<byte> masterKey)
    {
        BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], entryId);
        body[16] = (byte)masterKey.Length;
        masterKey.CopyTo(body[17..]);
    }

    /// <summary>Body length of a LongPollRead request.</summary>
    public const int LongPollBodyLength = 20;

    /// <summary>Writes a LongPollRead body.</summary>
    public static void WriteLongPollBody(Span<byte> body, long ledgerId, long entryId, uint timeoutMs)
    {
        BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], entryId);
        BinaryPrimitives.WriteUInt32LittleEndian(body[16..], timeoutMs);
    }

    /// <summary>Body length of a Fence request.</summary>
    public static int FenceBodyLength(int masterKeyLength) => 9 + masterKeyLength;

    /// <summary>Writes a Fence body.</summary>
    public static void WriteFenceBody(Span<byte> body, long ledgerId, ReadOnlySpan<byte> masterKey)
    {
        BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);
        body[8] = (byte)masterKey.Length;
        masterKey.CopyTo(body[9..]);
    }

    /// <summary>Body length of ReadLac and DeleteLedger requests.</summary>
    public const int LedgerIdBodyLength = 8;

    /// <summary>Writes a ReadLac or DeleteLedger body.</summary>
    public static void WriteLedgerIdBody(Span<byte> body, long ledgerId) => BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);

    /// <summary>Body length of a Handshake request.</summary>
    public const int HandshakeBodyLength = 8;

    /// <summary>Writes a Handshake body offering exactly <see cref="BookieProtocol.Version"/>.</summary>
    public static void WriteHandshakeBody(Span<byte> body)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(body, BookieProtocol.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(body[4..], BookieProtocol.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(body[6..], BookieProtocol.Version);
    }

    /// <summary>
    /// Decodes a request frame (the bytes after its length prefix). Never throws: a frame that is not
    /// <see cref="RequestVerdict.Valid"/> comes with <paramref name="problem"/> saying why. The header fields
    /// (<see cref="Op"/>, <see cref="Flags"/>, <see cref="RequestId"/>) are filled whenever the frame holds a header.
    /// </summary>
    public static RequestVerdict Decode(ReadOnlySpan<byte> frame, out BookieRequest request, out string? problem)
    {
        request = default;
        problem = null;
        if (frame.Length < BookieProtocol.HeaderSize)
        {
            problem = $"frame of {frame.Length} bytes is shorter than its {BookieProtocol.HeaderSize}-byte header";
            return RequestVerdict.Malformed;
        }

        var op = (BookieOp)frame[0];
        byte flags = frame[1];
        ulong requestId = BinaryPrimitives.ReadUInt64LittleEndian(frame[4..]);
        ReadOnlySpan<byte> body = frame[BookieProtocol.HeaderSize..];
        request = new BookieRequest { Op = op, Flags = flags, RequestId = requestId };
        switch (op)
        {
            case BookieOp.Handshake:
            {
                if (body.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(body) != BookieProtocol.Magic)
                {
                    problem = "handshake without the DLBK magic";
                    return RequestVerdict.Malformed;
                }

                ushort min = BinaryPrimitives.ReadUInt16LittleEndian(body[4..]);
                ushort max = BinaryPrimitives.ReadUInt16LittleEndian(body[6..]);
                request = request with { MinVersion = min, MaxVersion = max };
                if (min > BookieProtocol.Version || max < BookieProtocol.Version)
                {
                    problem = $"client speaks protocol versions {min}..{max}, this bookie speaks {BookieProtocol.Version}";
                    return RequestVerdict.Malformed;
                }

                return RequestVerdict.Valid;
            }

            case BookieOp.AddEntry:
            {
                if (body.Length < 1 || body[0] > BookieProtocol.MaxMasterKeyLength || body.Length < 1 + body[0] + PackagedEntry.HeaderSize)
                {
                    problem = "AddEntry body malformed";
                    return RequestVerdict.Malformed;
                }

                var entry = body[(1 + body[0])..];
                request = request with
                {
                    MasterKey = body.Slice(1, body[0]),
                    Entry = entry,
                    LedgerId = PackagedEntry.LedgerId(entry),
                    EntryId = PackagedEntry.EntryId(entry),
                };
                return RequestVerdict.Valid;
            }

            case BookieOp.ReadEntry:
            {
                if (body.Length < 17 || body[16] > BookieProtocol.MaxMasterKeyLength || body.Length < 17 + body[16])
                {
                    var verdict = Short(body, op, "ReadEntry body malformed", out long ledgerId, out long entryId, out problem);
                    request = request with { LedgerId = ledgerId, EntryId = entryId };
                    return verdict;
                }

                request = request with
                {
                    LedgerId = BinaryPrimitives.ReadInt64LittleEndian(body),
                    EntryId = BinaryPrimitives.ReadInt64LittleEndian(body[8..]),
                    MasterKey = body.Slice(17, body[16]),
                };
                return CheckIds(request, minEntryId: -1, out problem);
            }

            case BookieOp.LongPollRead:
            {
                if (body.Length < 20)
                {
                    var verdict = Short(body, op, "LongPollRead body too short", out long ledgerId, out long entryId, out problem);
                    request = request with { LedgerId = ledgerId, EntryId = entryId };
                    return verdict;
                }

                request = request with
                {
                    LedgerId = BinaryPrimitives.ReadInt64LittleEndian(body),
                    EntryId = BinaryPrimitives.ReadInt64LittleEndian(body[8..]),
                    TimeoutMs = BinaryPrimitives.ReadUInt32LittleEndian(body[16..]),
                };
                return CheckIds(request, minEntryId: 0, out problem);
            }

            case BookieOp.Fence:
            {
                if (body.Length < 9 || body[8] > BookieProtocol.MaxMasterKeyLength || body.Length < 9 + body[8])
                {
                    var verdict = Short(body, op, "Fence body malformed", out long ledgerId, out long entryId, out problem);
                    request = request with { LedgerId = ledgerId, EntryId = entryId };
                    return verdict;
                }

                request = request with { LedgerId = BinaryPrimitives.ReadInt64LittleEndian(body), MasterKey = body.Slice(9, body[8]) };
                return CheckIds(request, minEntryId: 0, out problem);
            }

            case BookieOp.ReadLac:
            case BookieOp.DeleteLedger:
            {
                if (body.Length < 8)
                {
                    problem = $"{op} body too short";
                    return RequestVerdict.Malformed;
                }

                request = request with { LedgerId = BinaryPrimitives.ReadInt64LittleEndian(body) };
                return CheckIds(request, minEntryId: 0, out problem);
            }

            case BookieOp.Ping:
                return RequestVerdict.Valid;
            default:
                problem = $"unknown operation {(byte)op}";
                return RequestVerdict.BadRequest;
        }
    }

    /// <summary>
    /// A body too short for its operation: malformed, unless its ids alone are already invalid (then it is answered
    /// <c>BadRequest</c> like a whole request with those ids, as earlier versions did).
    /// </summary>
    private static RequestVerdict Short(ReadOnlySpan<byte> body, BookieOp op, string what, out long ledgerId, out long entryId, out string? problem)
    {
        ledgerId = body.Length >= 8 ? BinaryPrimitives.ReadInt64LittleEndian(body) : 0;
        entryId = body.Length >= 16 && op is BookieOp.ReadEntry or BookieOp.LongPollRead ? BinaryPrimitives.ReadInt64LittleEndian(body[8..]) : 0;
        if (ledgerId < 0)
        {
            problem = $"negative ledger id {ledgerId}";
            return RequestVerdict.BadRequest;
        }

        if (entryId < (op == BookieOp.ReadEntry ? -1 : 0))
        {
            problem = $"invalid entry id {entryId}";
            return RequestVerdict.BadRequest;
        }

        problem = what;
        return RequestVerdict.Malformed;
    }

    private static RequestVerdict CheckIds(in BookieRequest request, long minEntryId, out string? problem)
    {
        if (request.LedgerId < 0)
        {
            problem = $"negative ledger id {request.LedgerId}";
            return RequestVerdict.BadRequest;
        }

        if (request.EntryId < minEntryId)
        {
            problem = $"invalid entry id {request.EntryId}";
            return RequestVerdict.BadRequest;
        }

        problem = null;
        return RequestVerdict.Valid;
    }
}
