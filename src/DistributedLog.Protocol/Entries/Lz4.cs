using K4os.Compression.LZ4;

namespace DistributedLog.Protocol.Entries;

/// <summary>LZ4 block compression on spans, with the "store raw when it does not shrink" rule.</summary>
internal static class Lz4
{
    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/> (which needs
    /// <c>source.Length - 1</c> bytes). Returns the compressed length, or -1 when compression would not make the
    /// data smaller (the caller then stores it raw).
    /// </summary>
    public static int TryCompressSmaller(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.Length < 2)
        {
            return -1;
        }

        // A target smaller than the worst-case bound puts the encoder in its limited-output mode: it gives up
        // (returns <= 0) as soon as the output would not fit.
        int n = LZ4Codec.Encode(source, destination[..(source.Length - 1)]);
        return n > 0 && n < source.Length ? n : -1;
    }

    /// <summary>Decompresses; true only if the output is exactly <paramref name="destination"/>'s length.</summary>
    public static bool TryDecompressExact(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.IsEmpty || destination.IsEmpty)
        {
            // The writer never compresses empty data, so stored bytes for an empty payload (or none for a
            // non-empty one) mean corruption.
            return source.IsEmpty && destination.IsEmpty;
        }

        return LZ4Codec.Decode(source, destination) == destination.Length;
    }
}
