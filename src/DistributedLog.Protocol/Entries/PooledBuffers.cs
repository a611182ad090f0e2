using System.Buffers;

namespace DistributedLog.Protocol.Entries;

/// <summary>Grows and returns <see cref="ArrayPool{T}.Shared"/> buffers.</summary>
internal static class PooledBuffers
{
    /// <summary>Makes sure <paramref name="buffer"/> holds at least <paramref name="required"/> bytes, keeping its first <paramref name="preserve"/> bytes.</summary>
    public static void Ensure(ref byte[] buffer, int required, int preserve)
    {
        if (buffer.Length >= required)
        {
            return;
        }

        int size = (int)Math.Min(Math.Max((long)buffer.Length * 2, required), Array.MaxLength);
        byte[] bigger = ArrayPool<byte>.Shared.Rent(size);
        buffer.AsSpan(0, preserve).CopyTo(bigger);
        Return(buffer);
        buffer = bigger;
    }

    /// <summary>Returns a buffer to the pool (the empty array is never pooled).</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
