using System.Buffers;
using System.Runtime.InteropServices;

namespace DistributedLog.Bookie.Storage;

/// <summary>Fixed-size memory segments shared by the two write-cache halves, reused across flushes.</summary>
internal sealed class WriteCacheSegmentPool
{
    private readonly Stack<byte[]> _free = new();

    public WriteCacheSegmentPool(int segmentSize) => SegmentSize = segmentSize;

    /// <summary>Bytes of one segment; larger entries get a dedicated buffer.</summary>
    public int SegmentSize { get; }

    public byte[] Rent()
    {
        lock (_free)
        {
            if (_free.Count > 0)
            {
                return _free.Pop();
            }
        }

        return GC.AllocateUninitializedArray<byte>(SegmentSize);
    }

    public void Return(byte[] segment)
    {
        lock (_free)
        {
            _free.Push(segment);
        }
    }

    /// <summary>Picks a segment size for a half of <paramref name="halfCapacity"/> bytes: 1/16 of it, between 64 KiB and 4 MiB.</summary>
    public static int ChooseSegmentSize(long halfCapacity) =>
        (int)Math.Min(halfCapacity, Math.Clamp(halfCapacity / 16, 64 << 10, 4 << 20));
}

/// <summary>
/// One half of the write cache: entries bump-allocated into pooled segments plus an index (ledger, entry) → slot.
/// Not thread-safe: the storage guards it with its cache lock while it is the active half, and only the flusher
/// reads it (without a lock) once it has been swapped out.
/// </summary>
internal sealed class WriteCacheHalf
{
    private readonly WriteCacheSegmentPool _pool;
    private readonly long _capacity;
    private readonly List<byte[]> _buffers = [];
    private readonly Dictionary<EntryKey, Slot> _index = [];
    private readonly Dictionary<long, long> _lastEntry = [];
    private int _current = -1;
    private int _currentOffset;

    public WriteCacheHalf(WriteCacheSegmentPool pool, long capacity)
    {
        _pool = pool;
        _capacity = capacity;
    }

    /// <summary>Order of this half among all halves ever made active (flushes complete in this order).</summary>
    public long Generation { get; set; }

    /// <summary>Entries held.</summary>
    public int Count => _index.Count;

    /// <summary>Bytes of the entries added (overwritten entries still count until the half is cleared).</summary>
    public long BytesUsed { get; private set; }

    /// <summary>Bytes of memory held (segments and dedicated buffers).</summary>
    public long BytesReserved { get; private set; }

    /// <summary>Copies an entry in. Returns false (adding nothing) if it does not fit; an empty half takes any entry.</summary>
    public bool TryAdd(long ledgerId, long entryId, ReadOnlySpan<byte> entry)
    {
        int length = entry.Length;
        int segmentSize = _pool.SegmentSize;
        int bufferIndex;
        int offset;
        if (length > segmentSize)
        {
            if (_index.Count > 0 && BytesReserved + length > _capacity)
            {
                return false;
            }

            byte[] dedicated = ArrayPool<byte>.Shared.Rent(length);
            _buffers.Add(dedicated);
            BytesReserved += dedicated.Length;
            bufferIndex = _buffers.Count - 1;
            offset = 0;
        }
        else
        {
            if (_current < 0 || segmentSize - _currentOffset < length)
            {
                if (_index.Count > 0 && BytesReserved + segmentSize > _capacity)
                {
                    return false;
                }

                _buffers.Add(_pool.Rent());
                BytesReserved += segmentSize;
                _current = _buffers.Count - 1;
                _currentOffset = 0;
            }

            bufferIndex = _current;
            offset = _currentOffset;
            _currentOffset += length;
        }

        entry.CopyTo(_buffers[bufferIndex].AsSpan(offset, length));
        BytesUsed += length;
        _index[new EntryKey(ledgerId, entryId)] = new Slot(bufferIndex, offset, length);
        ref long last = ref CollectionsMarshal.GetValueRefOrAddDefault(_lastEntry, ledgerId, out bool exists);
        if (!exists || last < entryId)
        {
            last = entryId;
        }

        return true;
    }

    /// <summary>The bytes of an entry held here, or an empty span (check the return value).</summary>
    public bool TryGet(EntryKey key, out ReadOnlySpan<byte> entry)
    {
        if (_index.TryGetValue(key, out Slot slot))
        {
            entry = _buffers[slot.Buffer].AsSpan(slot.Offset, slot.Length);
            return true;
        }

        entry = default;
        return false;
    }

    /// <summary>Copies an entry into <paramref name="destination"/> if it is held here.</summary>
    public bool TryCopyTo(EntryKey key, IBufferWriter<byte> destination)
    {
        if (!TryGet(key, out ReadOnlySpan<byte> entry))
        {
            return false;
        }

        entry.CopyTo(destination.GetSpan(entry.Length));
        destination.Advance(entry.Length);
        return true;
    }

    /// <summary>The highest entry id held for the ledger, or -1.</summary>
    public long LastEntryId(long ledgerId) => _lastEntry.TryGetValue(ledgerId, out long last) ? last : -1;

    /// <summary>Copies the keys into <paramref name="destination"/> (at least <see cref="Count"/> long) sorted by (ledger, entry).</summary>
    public void CopySortedKeys(EntryKey[] destination)
    {
        _index.Keys.CopyTo(destination, 0);
        Array.Sort(destination, 0, _index.Count);
    }

    /// <summary>Drops every entry and gives the memory back to the pools.</summary>
    public void Clear()
    {
        int segmentSize = _pool.SegmentSize;
        foreach (byte[] buffer in _buffers)
        {
            if (buffer.Length == segmentSize)
            {
                _pool.Return(buffer);
            }
            else
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        _buffers.Clear();
        _index.Clear();
        _lastEntry.Clear();
        _current = -1;
        _currentOffset = 0;
        BytesUsed = 0;
        BytesReserved = 0;
    }

    private readonly record struct Slot(int Buffer, int Offset, int Length);
}
