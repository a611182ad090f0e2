namespace DistributedLog.Protocol.Entries;

/// <summary>Compression of an entry's or a record set's payload (stored in the low two bits of its flags).</summary>
public enum CompressionCodec
{
    /// <summary>Stored as is.</summary>
    None = 0,

    /// <summary>LZ4 block compression (K4os.Compression.LZ4, fast level). Falls back to <see cref="None"/> when it does not shrink the data.</summary>
    Lz4 = 1,
}
