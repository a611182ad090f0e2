using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// Decodes storage entries written by <see cref="EntryWriter"/>: validates the envelope (version, lengths, CRC32C,
/// decompressed length) and the record framing, then enumerates the records without allocating, unpacking record
/// sets so that every record takes one slot.
/// </summary>
/// <remarks>
/// The reader owns pooled decompression buffers and is meant to be reused. It is not thread-safe, and one reader
/// serves one enumeration at a time: calling <see cref="Read"/> again (or disposing) ends the previous enumeration,
/// whose next <c>MoveNext</c> throws. Corrupt input raises <see cref="ChecksumFailedException"/> or
/// <see cref="InvalidEnvelopedEntryException"/>, before any record is yielded.
/// </remarks>
public sealed class EntryReader : IDisposable
{
    private byte[] _entryScratch = [];
    private byte[] _setScratch = [];
    private int _generation;
    private bool _disposed;

    /// <summary>
    /// Validates <paramref name="entry"/> and returns an enumerator over its records (use it with <c>foreach</c>).
    /// </summary>
    /// <exception cref="ChecksumFailedException">The entry's checksum does not match.</exception>
    /// <exception cref="InvalidEnvelopedEntryException">The envelope or the record framing is malformed.</exception>
    public EntryRecordEnumerator Read(ReadOnlySpan<byte> entry)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _generation++;
        (CompressionCodec codec, int decompressedLength) = EntryFormat.ReadHeader(entry);
        ReadOnlySpan<byte> payload = entry[EntryFormat.HeaderSize..];
        if (codec == CompressionCodec.Lz4)
        {
            payload = Decompress(ref _entryScratch, payload, decompressedLength, "Entry");
        }

        int slots = CheckRecords(payload);
        return new EntryRecordEnumerator(this, _generation, payload, slots);
    }

    /// <summary>
    /// Decodes a whole entry into <see cref="LogRecordWithDlsn"/> objects (allocates per record; for tools and tests,
    /// not hot paths). Control records are included.
    /// </summary>
    /// <param name="entry">The sealed entry.</param>
    /// <param name="logSegmentSequenceNo">The entry's segment (first part of each DLSN).</param>
    /// <param name="entryId">The entry's id (second part of each DLSN).</param>
    /// <param name="segmentStartSequenceId">The segment's start sequence id.</param>
    public static List<LogRecordWithDlsn> ReadAll(ReadOnlySpan<byte> entry, long logSegmentSequenceNo, long entryId, long segmentStartSequenceId)
    {
        using var reader = new EntryReader();
        EntryRecordEnumerator records = reader.Read(entry);
        var result = new List<LogRecordWithDlsn>(records.Count);
        foreach (LogRecordView record in records)
        {
            result.Add(record.ToLogRecordWithDlsn(logSegmentSequenceNo, entryId, segmentStartSequenceId));
        }

        return result;
    }

    /// <summary>Returns the decompression buffers to the pool and ends any running enumeration.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _generation++;
            PooledBuffers.Return(_entryScratch);
            PooledBuffers.Return(_setScratch);
            _entryScratch = [];
            _setScratch = [];
        }
    }

    internal void CheckGeneration(int generation)
    {
        if (generation != _generation)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            throw new InvalidOperationException(
                "The EntryReader was given another entry while this enumeration was running; use one reader per concurrent enumeration.");
        }
    }

    internal ReadOnlySpan<byte> DecompressSet(ReadOnlySpan<byte> stored, int decompressedLength) =>
        Decompress(ref _setScratch, stored, decompressedLength, "Record set");

    private static ReadOnlySpan<byte> Decompress(ref byte[] scratch, ReadOnlySpan<byte> stored, int decompressedLength, string what)
    {
        // decompressedLength was bounded by the header checks (at most about 1 MiB), so this never allocates a garbage size.
        PooledBuffers.Ensure(ref scratch, decompressedLength, 0);
        Span<byte> target = scratch.AsSpan(0, decompressedLength);
        if (!Lz4.TryDecompressExact(stored, target))
        {
            throw new InvalidEnvelopedEntryException(
                $"{what} does not decompress to the declared {decompressedLength} bytes (LZ4 data is corrupt).");
        }

        return target;
    }

    /// <summary>Walks the top-level records once, validating their framing and record-set headers; returns the slot count.</summary>
    private static int CheckRecords(ReadOnlySpan<byte> payload)
    {
        int offset = 0;
        long slots = 0;
        while (offset < payload.Length)
        {
            ReadOnlySpan<byte> rest = payload[offset..];
            if (rest.Length < LogRecord.HeaderSize)
            {
                throw new InvalidEnvelopedEntryException(
                    $"Entry payload ends inside a record header ({rest.Length} of {LogRecord.HeaderSize} bytes at offset {offset}).");
            }

            long metadata = BinaryPrimitives.ReadInt64BigEndian(rest);
            long txId = BinaryPrimitives.ReadInt64BigEndian(rest[8..]);
            int length = BinaryPrimitives.ReadInt32BigEndian(rest[16..]);
            if (!LogRecordFormat.TryDecodeMetadata(metadata, out LogRecordFlags flags, out int position))
            {
                throw new InvalidEnvelopedEntryException($"Record at offset {offset} has invalid metadata 0x{metadata:X16}.");
            }

            bool control = (flags & LogRecordFlags.Control) != 0;
            bool recordSet = (flags & LogRecordFlags.RecordSet) != 0;
            if (((flags & LogRecordFlags.EndOfStream) != 0 && !control) || (control && recordSet) || txId < 0)
            {
                throw new InvalidEnvelopedEntryException(
                    $"Record at offset {offset} has inconsistent flags {flags} or txid {txId}.");
            }

            if (length < 0 || length > rest.Length - LogRecord.HeaderSize)
            {
                throw new InvalidEnvelopedEntryException(
                    $"Record at offset {offset} declares {length} payload bytes; {rest.Length - LogRecord.HeaderSize} remain.");
            }

            ReadOnlySpan<byte> recordPayload = rest.Slice(LogRecord.HeaderSize, length);
            if (recordSet)
            {
                (CompressionCodec codec, int count, _) = RecordSetFormat.ReadHeader(recordPayload);
                if ((long)position + count - 1 > int.MaxValue)
                {
                    throw new InvalidEnvelopedEntryException($"Record set at offset {offset} runs past the largest position.");
                }

                if (codec == CompressionCodec.None)
                {
                    // Cheap to check now; compressed sets are checked as they are unpacked.
                    _ = RecordSetFormat.Validate(recordPayload);
                }

                slots += count;
            }
            else
            {
                slots++;
            }

            offset += LogRecord.HeaderSize + length;
        }

        return checked((int)slots);
    }
}
