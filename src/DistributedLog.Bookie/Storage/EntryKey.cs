using System.Buffers.Binary;

namespace DistributedLog.Bookie.Storage;

/// <summary>An entry's identity, ordered by ledger then entry (the order entries are flushed in).</summary>
internal readonly record struct EntryKey(long LedgerId, long EntryId) : IComparable<EntryKey>
{
    /// <summary>Bytes of the index key.</summary>
    public const int EncodedSize = 16;

    public int CompareTo(EntryKey other)
    {
        int c = LedgerId.CompareTo(other.LedgerId);
        return c != 0 ? c : EntryId.CompareTo(other.EntryId);
    }

    public override int GetHashCode() => HashCode.Combine(LedgerId, EntryId);

    /// <summary>Writes the index key: ledger id and entry id, 8 bytes each, big-endian (so keys sort like the ids).</summary>
    public void Encode(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, LedgerId);
        BinaryPrimitives.WriteInt64BigEndian(destination[8..], EntryId);
    }

    public static EntryKey Decode(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadInt64BigEndian(source), BinaryPrimitives.ReadInt64BigEndian(source[8..]));
}

/// <summary>Where an entry's bytes lie: entry log id, offset of the entry (after its length prefix) and length.</summary>
internal readonly record struct EntryLocation(long LogId, long Offset, int Length)
{
    /// <summary>Bytes of the index value.</summary>
    public const int EncodedSize = 20;

    /// <summary>Writes the index value: log id (i64), offset (i64), length (i32), little-endian.</summary>
    public void Encode(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, LogId);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], Offset);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], Length);
    }

    public static EntryLocation Decode(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadInt64LittleEndian(source), BinaryPrimitives.ReadInt64LittleEndian(source[8..]),
            BinaryPrimitives.ReadInt32LittleEndian(source[16..]));
}
