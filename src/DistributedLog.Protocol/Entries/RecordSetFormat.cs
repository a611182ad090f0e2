using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// The payload of a record set (DistributedLog's <c>LogRecordSet</c>), written as one record with the
/// <see cref="LogRecordFlags.RecordSet"/> flag:
/// <code>
/// int metadata | int count | int decompressedLength | int storedLength | stored data
/// </code>
/// Metadata holds the version (0x1000, bits 12-15) and the <see cref="CompressionCodec"/> (bits 0-1). The
/// decompressed data is <c>count</c> × <c>[int length | bytes]</c>. All integers are big-endian.
/// </summary>
public static class RecordSetFormat
{
    /// <summary>The version value in the metadata word (bits 12-15).</summary>
    public const int Version = 0x1000;

    /// <summary>Size of the record-set header: four 32-bit integers.</summary>
    public const int HeaderSize = 4 * sizeof(int);

    /// <summary>Bytes each inner record takes in addition to its payload (its length prefix).</summary>
    public const int RecordOverhead = sizeof(int);

    private const int VersionMask = 0xF000;
    private const int CodecMask = 0x3;

    /// <summary>Writes the header at the start of <paramref name="destination"/>.</summary>
    internal static void WriteHeader(Span<byte> destination, CompressionCodec codec, int count, int decompressedLength, int storedLength)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination, Version | (int)codec);
        BinaryPrimitives.WriteInt32BigEndian(destination[4..], count);
        BinaryPrimitives.WriteInt32BigEndian(destination[8..], decompressedLength);
        BinaryPrimitives.WriteInt32BigEndian(destination[12..], storedLength);
    }

    /// <summary>Validates the header of a record-set payload and returns its codec, record count and decompressed length.</summary>
    /// <exception cref="InvalidEnvelopedEntryException">The header is invalid.</exception>
    internal static (CompressionCodec Codec, int Count, int DecompressedLength) ReadHeader(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < HeaderSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set of {payload.Length} bytes is shorter than its {HeaderSize}-byte header.");
        }

        int metadata = BinaryPrimitives.ReadInt32BigEndian(payload);
        int count = BinaryPrimitives.ReadInt32BigEndian(payload[4..]);
        int decompressedLength = BinaryPrimitives.ReadInt32BigEndian(payload[8..]);
        int storedLength = BinaryPrimitives.ReadInt32BigEndian(payload[12..]);

        if ((metadata & ~(VersionMask | CodecMask)) != 0 || (metadata & VersionMask) != Version
            || (metadata & CodecMask) > (int)CompressionCodec.Lz4)
        {
            throw new InvalidEnvelopedEntryException($"Record set has an unknown version or codec (metadata 0x{metadata:X8}).");
        }

        var codec = (CompressionCodec)(metadata & CodecMask);
        if (storedLength != payload.Length - HeaderSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set declares {storedLength} stored bytes but holds {payload.Length - HeaderSize}.");
        }

        if (decompressedLength < 0 || decompressedLength > LogRecord.MaxRecordSize)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set declares a decompressed length of {decompressedLength} bytes; the limit is {LogRecord.MaxRecordSize}.");
        }

        if (codec == CompressionCodec.None && decompressedLength != storedLength)
        {
            throw new InvalidEnvelopedEntryException(
                $"Uncompressed record set declares {decompressedLength} decompressed bytes but stores {storedLength}.");
        }

        if (count < 0 || (long)count * RecordOverhead > decompressedLength || (count == 0 && (decompressedLength != 0 || storedLength != 0)))
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set declares {count} records in {decompressedLength} bytes, which cannot be right.");
        }

        return (codec, count, decompressedLength);
    }

    /// <summary>
    /// Validates the header of a record-set payload without decompressing or walking its records (version, codec,
    /// stored length, declared sizes within <see cref="LogRecord.MaxRecordSize"/>, a count that fits them) and returns
    /// the declared record count, which is at least 1. What a service does before passing a set through as one record.
    /// </summary>
    /// <exception cref="InvalidEnvelopedEntryException">The header is malformed; the message says what is wrong.</exception>
    public static int ReadCount(ReadOnlySpan<byte> payload)
    {
        int count = ReadHeader(payload).Count;
        if (count == 0)
        {
            throw new InvalidEnvelopedEntryException("Record set holds no records; a set to write needs at least one.");
        }

        return count;
    }

    /// <summary>
    /// Validates a whole record-set payload (header and every inner record, decompressing into a pooled buffer if
    /// needed) and returns its record count.
    /// </summary>
    /// <exception cref="InvalidEnvelopedEntryException">The payload is malformed; the message says what is wrong.</exception>
    public static int Validate(ReadOnlySpan<byte> payload)
    {
        (CompressionCodec codec, int count, int decompressedLength) = ReadHeader(payload);
        if (codec == CompressionCodec.None)
        {
            CheckRecords(payload[HeaderSize..], count);
            return count;
        }

        byte[] scratch = ArrayPool<byte>.Shared.Rent(decompressedLength);
        try
        {
            Span<byte> data = scratch.AsSpan(0, decompressedLength);
            if (!Lz4.TryDecompressExact(payload[HeaderSize..], data))
            {
                throw new InvalidEnvelopedEntryException(
                    $"Record set does not decompress to the declared {decompressedLength} bytes (LZ4 data is corrupt).");
            }

            CheckRecords(data, count);
            return count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Reads the inner record at <paramref name="offset"/> of decompressed set data and advances past it.</summary>
    /// <exception cref="InvalidEnvelopedEntryException">The length prefix is cut off or points past the data.</exception>
    internal static ReadOnlySpan<byte> ReadRecord(ReadOnlySpan<byte> data, scoped ref int offset)
    {
        int remaining = data.Length - offset;
        if (remaining < RecordOverhead)
        {
            throw new InvalidEnvelopedEntryException("Record set data ends inside a record's length prefix.");
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(data[offset..]);
        if (length < 0 || length > remaining - RecordOverhead)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set holds an inner record of {length} bytes where only {remaining - RecordOverhead} remain.");
        }

        ReadOnlySpan<byte> record = data.Slice(offset + RecordOverhead, length);
        offset += RecordOverhead + length;
        return record;
    }

    private static void CheckRecords(ReadOnlySpan<byte> data, int count)
    {
        int offset = 0;
        for (int i = 0; i < count; i++)
        {
            if (offset == data.Length)
            {
                throw new InvalidEnvelopedEntryException($"Record set declares {count} records but its data ends after {i}.");
            }

            _ = ReadRecord(data, ref offset);
        }

        if (offset != data.Length)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set has {data.Length - offset} bytes after its {count} declared records.");
        }
    }
}
