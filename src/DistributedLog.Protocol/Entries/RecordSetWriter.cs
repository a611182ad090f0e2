using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// Builds a record set (client-side batch, see <see cref="RecordSetFormat"/>) in a pooled buffer. Reusable:
/// <see cref="Reset"/> after sealing. Not thread-safe. Dispose to return the buffer to the pool.
/// </summary>
/// <remarks>
/// The sealed set is written as one record with the <see cref="LogRecordFlags.RecordSet"/> flag (see
/// <see cref="EntryWriter.TryAddRecordSet"/>); that record obeys <see cref="LogRecord.MaxRecordSize"/> like any
/// other, which bounds the set. Readers unpack it: inner record <c>i</c> gets slot <c>startSlot + i</c> and position
/// <c>setPosition + i</c>, so a writer advances its position counter by <see cref="Count"/>.
/// </remarks>
public sealed class RecordSetWriter : IDisposable
{
    private byte[] _buffer;
    private int _length;
    private int _count;
    private bool _disposed;

    /// <summary>Creates a writer whose buffer starts at <paramref name="initialCapacity"/> bytes and grows as needed.</summary>
    public RecordSetWriter(int initialCapacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _buffer = initialCapacity == 0 ? [] : ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    /// <summary>Number of records in the set.</summary>
    public int Count => _count;

    /// <summary>Size of the set's payload before compression (header + length-prefixed records); an upper bound of the sealed size.</summary>
    public int EstimatedSize => RecordSetFormat.HeaderSize + _length;

    /// <summary>Persisted size of the record that will carry the set, before compression: <see cref="LogRecord.HeaderSize"/> + <see cref="EstimatedSize"/>.</summary>
    public int EstimatedRecordSize => LogRecord.HeaderSize + EstimatedSize;

    /// <summary>
    /// Appends a record. Returns false (and adds nothing) if the set would grow beyond <see cref="LogRecord.MaxRecordSize"/>:
    /// seal it and start a new one. If it returns false on an empty set, the payload is too big to batch; write it
    /// as a plain record instead.
    /// </summary>
    /// <exception cref="LogRecordTooLongException">The payload is larger than <see cref="LogRecord.MaxPayloadSize"/>.</exception>
    public bool TryAdd(ReadOnlySpan<byte> payload)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (payload.Length > LogRecord.MaxPayloadSize)
        {
            throw new LogRecordTooLongException(
                $"A record of {payload.Length} payload bytes exceeds the maximum record size of {LogRecord.MaxRecordSize} bytes.");
        }

        int size = RecordSetFormat.RecordOverhead + payload.Length;
        if (EstimatedRecordSize + size > LogRecord.MaxRecordSize)
        {
            return false;
        }

        PooledBuffers.Ensure(ref _buffer, _length + size, _length);
        Span<byte> target = _buffer.AsSpan(_length, size);
        BinaryPrimitives.WriteInt32BigEndian(target, payload.Length);
        payload.CopyTo(target[RecordSetFormat.RecordOverhead..]);
        _length += size;
        _count++;
        return true;
    }

    /// <summary>
    /// Writes the set's payload (header and records, compressed with <paramref name="codec"/> when that makes it
    /// smaller) to <paramref name="destination"/>. Does not change the writer. Returns the bytes written.
    /// </summary>
    public int Seal(CompressionCodec codec, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        int written = Seal(codec, destination.GetSpan(EstimatedSize));
        destination.Advance(written);
        return written;
    }

    /// <summary>
    /// Writes the set's payload to <paramref name="destination"/>, which needs <see cref="EstimatedSize"/> bytes.
    /// Does not change the writer. Returns the bytes written (at most <see cref="EstimatedSize"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public int Seal(CompressionCodec codec, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckCodec(codec);
        if (destination.Length < EstimatedSize)
        {
            throw new ArgumentException($"Sealing the record set needs {EstimatedSize} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        ReadOnlySpan<byte> raw = _buffer.AsSpan(0, _length);
        Span<byte> data = destination[RecordSetFormat.HeaderSize..];
        int stored = codec == CompressionCodec.Lz4 ? Lz4.TryCompressSmaller(raw, data) : -1;
        CompressionCodec used = CompressionCodec.Lz4;
        if (stored < 0)
        {
            raw.CopyTo(data);
            stored = raw.Length;
            used = CompressionCodec.None;
        }

        RecordSetFormat.WriteHeader(destination, used, _count, raw.Length, stored);
        return RecordSetFormat.HeaderSize + stored;
    }

    /// <summary>Empties the set, keeping its buffer.</summary>
    public void Reset()
    {
        _length = 0;
        _count = 0;
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            PooledBuffers.Return(_buffer);
            _buffer = [];
            _length = 0;
            _count = 0;
        }
    }

    internal static void CheckCodec(CompressionCodec codec)
    {
        if (codec is not (CompressionCodec.None or CompressionCodec.Lz4))
        {
            throw new ArgumentOutOfRangeException(nameof(codec), codec, "Unknown compression codec.");
        }
    }
}
