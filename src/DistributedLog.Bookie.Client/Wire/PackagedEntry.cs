using System.Buffers.Binary;
using DistributedLog.Protocol.Checksums;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Wire;

/// <summary>
/// The packaged entry: the bytes a ledger writer sends for one entry, kept unchanged on the wire, in the journal and
/// in the entry logs (as BookKeeper does). Little-endian:
/// <code>
/// 0  i64 ledgerId
/// 8  i64 entryId
/// 16 i64 lastAddConfirmed   (the writer's LAC when it sent this entry: the piggyback)
/// 24 i64 ledgerLength       (bytes of payload in the ledger up to and including this entry)
/// 32 i32 payloadLength
/// 36 u32 crc32c             (over bytes 0..36 and the payload)
/// 40 payload
/// </code>
/// The checksum is verified by the bookie on add and on every read from disk, and by the client on every read.
/// </summary>
public static class PackagedEntry
{
    /// <summary>Bytes before the payload.</summary>
    public const int HeaderSize = 40;

    /// <summary>Largest payload of one entry (DistributedLog's max entry size, 1 MiB − 4 KiB).</summary>
    public const int MaxPayloadSize = (1 << 20) - (4 << 10);

    /// <summary>Largest packaged entry.</summary>
    public const int MaxSize = HeaderSize + MaxPayloadSize;

    /// <summary>Total size of a packaged entry with a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static int SizeOf(int payloadLength) => HeaderSize + payloadLength;

    /// <summary>Writes a packaged entry into <paramref name="destination"/> and returns its length.</summary>
    public static int Write(Span<byte> destination, long ledgerId, long entryId, long lastAddConfirmed, long ledgerLength,
        ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxPayloadSize)
        {
            throw new DlException(StatusCode.TooLargeRecord,
                $"Entry payload of {payload.Length} bytes exceeds the maximum entry size of {MaxPayloadSize} bytes.");
        }

        int size = HeaderSize + payload.Length;
        if (destination.Length < size)
        {
            throw new ArgumentException($"Destination holds {destination.Length} bytes; the entry needs {size}.", nameof(destination));
        }

        payload.CopyTo(destination[HeaderSize..]);
        WriteHeader(destination, ledgerId, entryId, lastAddConfirmed, ledgerLength, payload.Length);
        return size;
    }

    /// <summary>
    /// Writes the header of a packaged entry in front of a payload already in place at
    /// <c>entry[<see cref="HeaderSize"/>..]</c> (the entry was built where it will be sent: no copy) and returns the
    /// entry's length.
    /// </summary>
    public static int WriteHeader(Span<byte> entry, long ledgerId, long entryId, long lastAddConfirmed, long ledgerLength, int payloadLength)
    {
        if ((uint)payloadLength > MaxPayloadSize)
        {
            throw new DlException(StatusCode.TooLargeRecord,
                $"Entry payload of {payloadLength} bytes exceeds the maximum entry size of {MaxPayloadSize} bytes.");
        }

        int size = HeaderSize + payloadLength;
        if (entry.Length < size)
        {
            throw new ArgumentException($"The entry buffer holds {entry.Length} bytes; the entry needs {size}.", nameof(entry));
        }

        BinaryPrimitives.WriteInt64LittleEndian(entry, ledgerId);
        BinaryPrimitives.WriteInt64LittleEndian(entry[8..], entryId);
        BinaryPrimitives.WriteInt64LittleEndian(entry[16..], lastAddConfirmed);
        BinaryPrimitives.WriteInt64LittleEndian(entry[24..], ledgerLength);
        BinaryPrimitives.WriteInt32LittleEndian(entry[32..], payloadLength);
        uint crc = Crc32C.Append(Crc32C.Start(), entry[..36]);
        crc = Crc32C.Finish(Crc32C.Append(crc, entry.Slice(HeaderSize, payloadLength)));
        BinaryPrimitives.WriteUInt32LittleEndian(entry[36..], crc);
        return size;
    }

    /// <summary>Reads the ledger id of a packaged entry (no validation).</summary>
    public static long LedgerId(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadInt64LittleEndian(entry);

    /// <summary>Reads the entry id of a packaged entry (no validation).</summary>
    public static long EntryId(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadInt64LittleEndian(entry[8..]);

    /// <summary>Reads the piggybacked last-add-confirmed of a packaged entry (no validation).</summary>
    public static long LastAddConfirmed(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadInt64LittleEndian(entry[16..]);

    /// <summary>Reads the ledger length recorded in a packaged entry (no validation).</summary>
    public static long LedgerLength(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadInt64LittleEndian(entry[24..]);

    /// <summary>The payload of a packaged entry (no validation).</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> entry) => entry.Slice(HeaderSize, BinaryPrimitives.ReadInt32LittleEndian(entry[32..]));

    /// <summary>
    /// Checks that <paramref name="entry"/> is one whole, uncorrupted packaged entry. Returns <c>null</c> when it is,
    /// or a sentence saying what is wrong.
    /// </summary>
    public static string? Validate(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < HeaderSize)
        {
            return $"entry of {entry.Length} bytes is shorter than its {HeaderSize}-byte header";
        }

        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(entry[32..]);
        if (payloadLength < 0 || payloadLength > MaxPayloadSize || HeaderSize + payloadLength != entry.Length)
        {
            return $"entry header declares a {payloadLength}-byte payload but {entry.Length - HeaderSize} bytes follow";
        }

        long entryId = EntryId(entry);
        if (LedgerId(entry) < 0 || entryId < 0)
        {
            return $"entry header names ledger {LedgerId(entry)} entry {entryId}";
        }

        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(entry[36..]);
        uint crc = Crc32C.Append(Crc32C.Start(), entry[..36]);
        crc = Crc32C.Finish(Crc32C.Append(crc, entry[HeaderSize..]));
        return crc == expected ? null : $"entry checksum mismatch (stored {expected:x8}, computed {crc:x8})";
    }

    /// <summary>Throws <see cref="ChecksumFailedException"/> unless <paramref name="entry"/> is a valid packaged entry of the given ledger and entry.</summary>
    public static void Verify(ReadOnlySpan<byte> entry, long ledgerId, long entryId, string where)
    {
        string? problem = Validate(entry);
        if (problem is null && (LedgerId(entry) != ledgerId || EntryId(entry) != entryId))
        {
            problem = $"found ledger {LedgerId(entry)} entry {EntryId(entry)} instead";
        }

        if (problem is not null)
        {
            throw new ChecksumFailedException($"Corrupt entry {ledgerId}:{entryId} in {where}: {problem}.");
        }
    }
}
