using System.Buffers;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// A bounded cache of entries read from disk: a ring of segments filled in turn; when the ring wraps, the oldest segment
/// is emptied (its entries evicted) and refilled. Thread-safe (one short lock).
/// </summary>
/// <remarks>
/// An insert carries the <see cref="Epoch"/> the reader saw before looking the entry up in the index; a flush that
/// re-indexes entries bumps the epoch (<see cref="Invalidate"/>), so a racing reader cannot cache bytes the flush replaced.
/// </remarks>
internal sealed class ReadCache
{
    private readonly object _lock = new();
    private readonly Segment[] _segments;
    private readonly int _segmentSize;
    private readonly Dictionary<EntryKey, Slot> _index = [];
    private int _current;
    private long _epoch;
    private long _bytes;

    public ReadCache(long capacity)
    {
        if (capacity <= 0)
        {
            _segments = [];
            return;
        }

        int count = capacity >= 8L << 20 ? 8 : capacity >= 1L << 20 ? 4 : 1;
        _segmentSize = (int)Math.Min(capacity / count, 1L << 30);
        _segments = new Segment[count];
        for (int i = 0; i < count; i++)
        {
            _segments[i] = new Segment();
        }
    }

    /// <summary>Whether the cache holds anything at all (capacity above zero).</summary>
    public bool Enabled => _segments.Length > 0;

    /// <summary>Bytes of the entries cached.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Changes whenever cached entries are invalidated.</summary>
    public long Epoch => Volatile.Read(ref _epoch);

    /// <summary>Copies the entry into <paramref name="destination"/> if it is cached.</summary>
    public bool TryCopyTo(EntryKey key, IBufferWriter<byte> destination)
    {
        if (!Enabled)
        {
            return false;
        }

        lock (_lock)
        {
            if (!_index.TryGetValue(key, out Slot slot))
            {
                return false;
            }

            ReadOnlySpan<byte> entry = _segments[slot.Segment].Buffer!.AsSpan(slot.Offset, slot.Length);
            entry.CopyTo(destination.GetSpan(entry.Length));
            destination.Advance(entry.Length);
            return true;
        }
    }

    /// <summary>Caches an entry read from disk, unless the cache was invalidated since <paramref name="epochSeen"/>.</summary>
    public void Insert(EntryKey key, ReadOnlySpan<byte> entry, long epochSeen)
    {
        if (!Enabled || entry.Length > _segmentSize)
        {
            return;
        }

        lock (_lock)
        {
            if (_epoch != epochSeen || _index.ContainsKey(key))
            {
                return;
            }

            Segment segment = _segments[_current];
            if (_segmentSize - segment.Used < entry.Length)
            {
                _current = (_current + 1) % _segments.Length;
                segment = _segments[_current];
                EvictLocked(_current, segment);
            }

            segment.Buffer ??= GC.AllocateUninitializedArray<byte>(_segmentSize);
            entry.CopyTo(segment.Buffer.AsSpan(segment.Used));
            _index[key] = new Slot(_current, segment.Used, entry.Length);
            segment.Keys.Add(key);
            segment.Used += entry.Length;
            _bytes += entry.Length;
        }
    }

    /// <summary>Drops the given entries and bumps the epoch.</summary>
    public void Invalidate(ReadOnlySpan<EntryKey> keys)
    {
        if (!Enabled)
        {
            return;
        }

        lock (_lock)
        {
            _epoch++;
            if (_index.Count == 0)
            {
                return;
            }

            foreach (EntryKey key in keys)
            {
                if (_index.Remove(key, out Slot slot))
                {
                    _bytes -= slot.Length;
                }
            }
        }
    }

    private void EvictLocked(int segmentIndex, Segment segment)
    {
        foreach (EntryKey key in segment.Keys)
        {
            if (_index.TryGetValue(key, out Slot slot) && slot.Segment == segmentIndex)
            {
                _index.Remove(key);
                _bytes -= slot.Length;
            }
        }

        segment.Keys.Clear();
        segment.Used = 0;
    }

    private sealed class Segment
    {
        public byte[]? Buffer;
        public int Used;
        public readonly List<EntryKey> Keys = [];
    }

    private readonly record struct Slot(int Segment, int Offset, int Length);
}
