using System.Text;

namespace DistributedLog.Metadata.Internal;

/// <summary>Key validation and byte-range arithmetic shared by the backends.</summary>
internal static class MetadataKeys
{
    /// <summary>Throws unless <paramref name="key"/> is a usable key (non-empty).</summary>
    public static void ValidateKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
    }

    /// <summary>The UTF-8 bytes of <paramref name="prefix"/> followed by <paramref name="key"/>.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> prefix, string key)
    {
        byte[] bytes = new byte[prefix.Length + Encoding.UTF8.GetByteCount(key)];
        prefix.CopyTo(bytes);
        Encoding.UTF8.GetBytes(key, bytes.AsSpan(prefix.Length));
        return bytes;
    }

    /// <summary>The smallest byte string greater than every string that starts with <paramref name="prefix"/>, or
    /// <see langword="null"/> when there is none (empty prefix, or only 0xFF bytes).</summary>
    public static byte[]? PrefixEnd(ReadOnlySpan<byte> prefix)
    {
        for (int i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] != 0xFF)
            {
                byte[] end = prefix[..(i + 1)].ToArray();
                end[i]++;
                return end;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="key"/> is watched by a watch on <paramref name="keyOrPrefix"/>.</summary>
    public static bool Matches(string key, string keyOrPrefix, bool isPrefix) => isPrefix
        ? key.StartsWith(keyOrPrefix, StringComparison.Ordinal)
        : string.Equals(key, keyOrPrefix, StringComparison.Ordinal);

    /// <summary>The TTL in whole seconds (rounded up, at least 1) that both backends grant for <paramref name="ttl"/>.</summary>
    public static long TtlSeconds(TimeSpan ttl)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        return Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
    }
}
