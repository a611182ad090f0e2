using System.Buffers;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// Builds one storage entry (a batch of records, see <see cref="EntryFormat"/>) in a pooled buffer, with no
/// allocation per record. Reusable: <see cref="Seal(CompressionCodec, IBufferWriter{byte})"/>, then
/// <see cref="Reset"/>. Not thread-safe. Dispose to return the buffer to the pool.
/// </summary>
/// <remarks>
/// When acknowledged, the entry's records get DLSNs <c>(lssn, entryId, 0 .. SlotCount-1)</c> in the order they were
/// added; a record set takes one slot per inner record. The entry never grows beyond <see cref="LogRecord.MaxEntrySize"/>
/// (<see cref="EstimatedSize"/> counts the envelope header and the uncompressed records; compression only shrinks it).
/// </remarks>
public sealed class EntryWriter : IDisposable
{
    private byte[] _buffer;
    private int _length;
    private int _count;
    private int _slotCount;
    private bool _disposed;

    /// <summary>Creates a writer whose buffer starts at <paramref name="initialCapacity"/> bytes and grows as needed.</summary>
    public EntryWriter(int initialCapacity = 16 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _buffer = initialCapacity == 0 ? [] : ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    /// <summary>Number of records added (a record set counts once).</summary>
    public int Count => _count;

    /// <summary>Number of slots (DLSNs) the entry's records take: one per plain record, one per inner record of a set.</summary>
    public int SlotCount => _slotCount;

    /// <summary>Size of the entry if sealed without compression: envelope header + serialized records. Never above <see cref="LogRecord.MaxEntrySize"/>.</summary>
    public int EstimatedSize => EntryFormat.HeaderSize + _length;

    /// <summary>The serialized records added so far (the entry's uncompressed payload); valid until the next change.</summary>
    internal ReadOnlySpan<byte> Payload => _buffer.AsSpan(0, _length);

    /// <summary>
    /// Appends a record. Returns false (and adds nothing) if the entry would grow beyond
    /// <see cref="LogRecord.MaxEntrySize"/>: seal it and add the record to the next entry. A record that passes
    /// <see cref="LogRecord.Validate"/> always fits in an empty entry.
    /// </summary>
    /// <param name="txId">Transaction id (rules in <see cref="LogRecord.Validate"/>).</param>
    /// <param name="flags">Flags. With <see cref="LogRecordFlags.RecordSet"/> the payload must be a sealed record set; it is validated in full.</param>
    /// <param name="payload">The payload; it is copied.</param>
    /// <param name="positionWithinSegment">1-based position of the record in its segment (of a set's first inner record).</param>
    /// <exception cref="LogRecordTooLongException">The record is larger than <see cref="LogRecord.MaxRecordSize"/>.</exception>
    /// <exception cref="TransactionIdOutOfOrderException">The txid is not allowed for these flags.</exception>
    /// <exception cref="ArgumentException">The flags are invalid or the position is negative.</exception>
    /// <exception cref="InvalidEnvelopedEntryException">The record-set payload is malformed.</exception>
    public bool TryAdd(long txId, LogRecordFlags flags, ReadOnlySpan<byte> payload, int positionWithinSegment)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        LogRecord.Validate(txId, flags, payload.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(positionWithinSegment);
        int slots = (flags & LogRecordFlags.RecordSet) != 0 ? RecordSetFormat.Validate(payload) : 1;

        int size = LogRecord.HeaderSize + payload.Length;
        if (EstimatedSize + size > LogRecord.MaxEntrySize)
        {
            return false;
        }

        PooledBuffers.Ensure(ref _buffer, _length + size, _length);
        Span<byte> target = _buffer.AsSpan(_length, size);
        LogRecordFormat.WriteHeader(target, txId, flags, positionWithinSegment, payload.Length);
        payload.CopyTo(target[LogRecord.HeaderSize..]);
        Added(size, slots);
        return true;
    }

    /// <summary>Appends a record; see <see cref="TryAdd(long, LogRecordFlags, ReadOnlySpan{byte}, int)"/>.</summary>
    public bool TryAdd(LogRecord record, int positionWithinSegment)
    {
        ArgumentNullException.ThrowIfNull(record);
        return TryAdd(record.TxId, record.Flags, record.Payload.Span, positionWithinSegment);
    }

    /// <summary>
    /// Seals <paramref name="recordSet"/> straight into this entry as one record with the
    /// <see cref="LogRecordFlags.RecordSet"/> flag. Returns false (and adds nothing) if it might not fit: seal this
    /// entry first. The set is left unchanged (reset it yourself).
    /// </summary>
    /// <param name="recordSet">A non-empty record set.</param>
    /// <param name="txId">Transaction id of the set (a user txid).</param>
    /// <param name="positionWithinSegment">1-based position of the set's first inner record; the next free position is this + <see cref="RecordSetWriter.Count"/>.</param>
    /// <param name="codec">Compression of the set's data (used only when it shrinks it).</param>
    public bool TryAddRecordSet(RecordSetWriter recordSet, long txId, int positionWithinSegment, CompressionCodec codec = CompressionCodec.None)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(recordSet);
        if (recordSet.Count == 0)
        {
            throw new ArgumentException("The record set is empty.", nameof(recordSet));
        }

        int bound = recordSet.EstimatedSize;
        LogRecord.Validate(txId, LogRecordFlags.RecordSet, bound);
        ArgumentOutOfRangeException.ThrowIfNegative(positionWithinSegment);
        if (EstimatedSize + LogRecord.HeaderSize + bound > LogRecord.MaxEntrySize)
        {
            return false;
        }

        PooledBuffers.Ensure(ref _buffer, _length + LogRecord.HeaderSize + bound, _length);
        Span<byte> target = _buffer.AsSpan(_length, LogRecord.HeaderSize + bound);
        int setSize = recordSet.Seal(codec, target[LogRecord.HeaderSize..]);
        LogRecordFormat.WriteHeader(target, txId, LogRecordFlags.RecordSet, positionWithinSegment, setSize);
        Added(LogRecord.HeaderSize + setSize, recordSet.Count);
        return true;
    }

    /// <summary>
    /// Writes the sealed entry (envelope + payload, compressed with <paramref name="codec"/> when that makes it
    /// smaller) to <paramref name="destination"/>. Does not change the writer. Returns the bytes written (at most
    /// <see cref="EstimatedSize"/>).
    /// </summary>
    public int Seal(CompressionCodec codec, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        int written = Seal(codec, destination.GetSpan(EstimatedSize));
        destination.Advance(written);
        return written;
    }

    /// <summary>
    /// Writes the sealed entry to <paramref name="destination"/>, which needs <see cref="EstimatedSize"/> bytes.
    /// Does not change the writer. Returns the bytes written.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public int Seal(CompressionCodec codec, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RecordSetWriter.CheckCodec(codec);
        if (destination.Length < EstimatedSize)
        {
            throw new ArgumentException($"Sealing the entry needs {EstimatedSize} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        ReadOnlySpan<byte> raw = Payload;
        Span<byte> stored = destination[EntryFormat.HeaderSize..];
        int storedLength = codec == CompressionCodec.Lz4 ? Lz4.TryCompressSmaller(raw, stored) : -1;
        CompressionCodec used = CompressionCodec.Lz4;
        if (storedLength < 0)
        {
            raw.CopyTo(stored);
            storedLength = raw.Length;
            used = CompressionCodec.None;
        }

        EntryFormat.WriteHeader(destination, used, raw.Length, storedLength);
        return EntryFormat.HeaderSize + storedLength;
    }

    /// <summary>Empties the entry, keeping its buffer.</summary>
    public void Reset()
    {
        _length = 0;
        _count = 0;
        _slotCount = 0;
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            PooledBuffers.Return(_buffer);
            _buffer = [];
            Reset();
        }
    }

    private void Added(int size, int slots)
    {
        _length += size;
        _count++;
        _slotCount += slots;
    }
}
