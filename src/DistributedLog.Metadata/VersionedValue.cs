namespace DistributedLog.Metadata;

/// <summary>A key's value with its versions, as read from an <see cref="IMetadataStore"/>.</summary>
public sealed class VersionedValue
{
    /// <summary>Creates a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value (not copied).</param>
    /// <param name="version">The revision that last modified the key (&gt; 0).</param>
    /// <param name="createVersion">The revision that created the key (&gt; 0).</param>
    /// <param name="leaseId">The lease the key is bound to, or 0.</param>
    public VersionedValue(string key, ReadOnlyMemory<byte> value, long version, long createVersion, long leaseId)
    {
        Key = key;
        Value = value;
        Version = version;
        CreateVersion = createVersion;
        LeaseId = leaseId;
    }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>The value. Do not modify the memory behind it.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The store revision that last modified the key (its mod revision): the version to compare in
    /// <see cref="MetadataTransaction.IfVersion"/>. Always greater than zero.</summary>
    public long Version { get; }

    /// <summary>The store revision that created the key; it changes only when the key is deleted and created again.</summary>
    public long CreateVersion { get; }

    /// <summary>The lease the key is bound to, or 0 when it is not bound to one.</summary>
    public long LeaseId { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Key}@{Version} ({Value.Length} bytes)";
}
