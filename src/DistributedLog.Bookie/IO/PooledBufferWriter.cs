using System.Buffers;

namespace DistributedLog.Bookie.IO;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over arrays rented from <see cref="ArrayPool{T}.Shared"/>; <see cref="Detach"/>
/// hands the filled array to a new owner (who returns it to the pool), so the writer itself is reused.
/// Not thread-safe.
/// </summary>
public sealed class PooledBufferWriter : IBufferWriter<byte>
{
    private byte[] _buffer = [];
    private int _written;

    /// <summary>Bytes written since the last <see cref="Detach"/> or <see cref="Reset"/>.</summary>
    public int WrittenCount => _written;

    /// <summary>The bytes written.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <inheritdoc />
    public void Advance(int count) => _written += count;

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Gives away the rented array holding the written bytes (the caller returns it to the pool) and starts empty.</summary>
    public byte[] Detach(out int length)
    {
        byte[] buffer = _buffer;
        length = _written;
        _buffer = [];
        _written = 0;
        return buffer;
    }

    /// <summary>Returns the rented array to the pool (the writer starts empty and may be used again).</summary>
    public void Release()
    {
        byte[] buffer = Detach(out _);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Forgets what was written, keeping the array.</summary>
    public void Reset() => _written = 0;

    private void Ensure(int sizeHint)
    {
        int needed = _written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length)
        {
            return;
        }

        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, _buffer.Length * 2)));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = bigger;
    }
}
