using System.Buffers.Binary;
using DistributedLog.Protocol.Checksums;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// The envelope of one storage entry (version 2): DistributedLog's version-1 envelope plus a CRC32C.
/// <code>
/// byte version (2) | int flags | int decompressedLength | int storedLength | uint crc32c | stored payload
/// </code>
/// All integers are big-endian. Flags bits 0-1 hold the <see cref="CompressionCodec"/>; the other bits are zero.
/// The CRC32C covers the header bytes before it (version to stored length) and the stored payload, so any corruption
/// is detected before decompression. The decompressed payload is the concatenation of serialized records.
/// </summary>
public static class EntryFormat
{
    /// <summary>The envelope version this implementation writes and reads.</summary>
    public const byte Version = 2;

    /// <summary>Size of the envelope header: 1 + 4 + 4 + 4 + 4 bytes.</summary>
    public const int HeaderSize = 1 + (4 * sizeof(int));

    /// <summary>Largest decompressed payload of an entry: <see cref="LogRecord.MaxEntrySize"/> − <see cref="HeaderSize"/>.</summary>
    public const int MaxPayloadSize = LogRecord.MaxEntrySize - HeaderSize;

    private const int CodecMask = 0x3;
    private const int ChecksumOffset = 13;

    /// <summary>Writes the header for a payload already placed at <c>entry[HeaderSize..]</c>, checksum included.</summary>
    internal static void WriteHeader(Span<byte> entry, CompressionCodec codec, int decompressedLength, int storedLength)
    {
        entry[0] = Version;
        BinaryPrimitives.WriteInt32BigEndian(entry[1..], (int)codec);
        BinaryPrimitives.WriteInt32BigEndian(entry[5..], decompressedLength);
        BinaryPrimitives.WriteInt32BigEndian(entry[9..], storedLength);
        uint crc = Checksum(entry[..ChecksumOffset], entry.Slice(HeaderSize, storedLength));
        BinaryPrimitives.WriteUInt32BigEndian(entry[ChecksumOffset..], crc);
    }

    /// <summary>Validates the envelope of <paramref name="entry"/> and returns its codec and decompressed length.</summary>
    /// <exception cref="InvalidEnvelopedEntryException">The header or its lengths are invalid.</exception>
    /// <exception cref="ChecksumFailedException">The checksum does not match.</exception>
    internal static (CompressionCodec Codec, int DecompressedLength) ReadHeader(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < HeaderSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Entry of {entry.Length} bytes is shorter than the {HeaderSize}-byte envelope header: it is truncated.");
        }

        if (entry[0] != Version)
        {
            throw new InvalidEnvelopedEntryException($"Unsupported entry envelope version {entry[0]} (expected {Version}).");
        }

        int flags = BinaryPrimitives.ReadInt32BigEndian(entry[1..]);
        int decompressedLength = BinaryPrimitives.ReadInt32BigEndian(entry[5..]);
        int storedLength = BinaryPrimitives.ReadInt32BigEndian(entry[9..]);
        uint expectedCrc = BinaryPrimitives.ReadUInt32BigEndian(entry[ChecksumOffset..]);

        if ((flags & ~CodecMask) != 0 || (flags & CodecMask) > (int)CompressionCodec.Lz4)
        {
            throw new InvalidEnvelopedEntryException($"Entry envelope has unknown flags 0x{flags:X8}.");
        }

        var codec = (CompressionCodec)(flags & CodecMask);
        if (storedLength != entry.Length - HeaderSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Entry envelope declares {storedLength} payload bytes but {entry.Length - HeaderSize} follow the header " +
                "(truncated or trailing data).");
        }

        if (decompressedLength < 0 || decompressedLength > MaxPayloadSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Entry envelope declares a decompressed length of {decompressedLength} bytes; the limit is {MaxPayloadSize}.");
        }

        if (codec == CompressionCodec.None && decompressedLength != storedLength)
        {
            throw new InvalidEnvelopedEntryException(
                $"Uncompressed entry declares {decompressedLength} decompressed bytes but stores {storedLength}.");
        }

        uint actualCrc = Checksum(entry[..ChecksumOffset], entry[HeaderSize..]);
        if (actualCrc != expectedCrc)
        {
            throw new ChecksumFailedException(
                $"Entry checksum mismatch: stored 0x{expectedCrc:X8}, computed 0x{actualCrc:X8}; the entry is corrupt.");
        }

        return (codec, decompressedLength);
    }

    private static uint Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Start(), header), payload));
}
