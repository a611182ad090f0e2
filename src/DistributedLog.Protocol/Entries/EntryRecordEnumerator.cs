using System.Buffers.Binary;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Entries;

/// <summary>
/// Enumerates the records of one entry (from <see cref="EntryReader.Read"/>) without allocating. Record sets are
/// unpacked: each inner record is yielded on its own with the next slot. Use with <c>foreach</c>.
/// </summary>
public ref struct EntryRecordEnumerator
{
    private readonly EntryReader? _owner;
    private readonly int _generation;
    private readonly ReadOnlySpan<byte> _payload;
    private int _offset;
    private long _nextSlot;
    private LogRecordView _current;

    // The record set being unpacked.
    private ReadOnlySpan<byte> _set;
    private int _setOffset;
    private int _setRemaining;
    private int _setPosition;
    private long _setTxId;
    private LogRecordFlags _setFlags;

    internal EntryRecordEnumerator(EntryReader owner, int generation, ReadOnlySpan<byte> payload, int count)
    {
        _owner = owner;
        _generation = generation;
        _payload = payload;
        Count = count;
    }

    /// <summary>Number of records the enumeration yields in all (the slots the entry takes).</summary>
    public int Count { get; }

    /// <summary>The current record.</summary>
    public readonly LogRecordView Current => _current;

    /// <summary>Returns this enumerator (so that <c>foreach</c> works on it).</summary>
    public readonly EntryRecordEnumerator GetEnumerator() => this;

    /// <summary>Moves to the next record.</summary>
    /// <exception cref="InvalidEnvelopedEntryException">A compressed record set inside the entry is malformed.</exception>
    /// <exception cref="InvalidOperationException">The reader was given another entry meanwhile.</exception>
    public bool MoveNext()
    {
        if (_owner is null)
        {
            return false;
        }

        _owner.CheckGeneration(_generation);
        if (_setRemaining > 0)
        {
            return NextInSet();
        }

        while (_offset < _payload.Length)
        {
            // The framing was validated by EntryReader.Read.
            ReadOnlySpan<byte> rest = _payload[_offset..];
            long metadata = BinaryPrimitives.ReadInt64BigEndian(rest);
            long txId = BinaryPrimitives.ReadInt64BigEndian(rest[8..]);
            int length = BinaryPrimitives.ReadInt32BigEndian(rest[16..]);
            _ = LogRecordFormat.TryDecodeMetadata(metadata, out LogRecordFlags flags, out int position);
            ReadOnlySpan<byte> payload = rest.Slice(LogRecord.HeaderSize, length);
            _offset += LogRecord.HeaderSize + length;

            if ((flags & LogRecordFlags.RecordSet) == 0)
            {
                _current = new LogRecordView(txId, flags, position, _nextSlot++, payload);
                return true;
            }

            (CompressionCodec codec, int count, int decompressedLength) = RecordSetFormat.ReadHeader(payload);
            if (count == 0)
            {
                continue;
            }

            ReadOnlySpan<byte> stored = payload[RecordSetFormat.HeaderSize..];
            _set = codec == CompressionCodec.None ? stored : _owner.DecompressSet(stored, decompressedLength);
            _setOffset = 0;
            _setRemaining = count;
            _setPosition = position;
            _setTxId = txId;
            _setFlags = flags & ~LogRecordFlags.RecordSet;
            return NextInSet();
        }

        return false;
    }

    private bool NextInSet()
    {
        ReadOnlySpan<byte> record = RecordSetFormat.ReadRecord(_set, ref _setOffset);
        _setRemaining--;
        if (_setRemaining == 0 && _setOffset != _set.Length)
        {
            throw new InvalidEnvelopedEntryException(
                $"Record set has {_set.Length - _setOffset} bytes after its declared records.");
        }

        _current = new LogRecordView(_setTxId, _setFlags, _setPosition++, _nextSlot++, record);
        return true;
    }
}
