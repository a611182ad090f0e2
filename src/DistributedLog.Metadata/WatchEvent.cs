namespace DistributedLog.Metadata;

/// <summary>What changed in a <see cref="WatchEvent"/>.</summary>
public enum WatchEventType
{
    /// <summary>The key was created or replaced.</summary>
    Put,
    /// <summary>The key was deleted (explicitly, by a prefix delete, or because its lease ended).</summary>
    Delete,
}

/// <summary>One change delivered by an <see cref="IMetadataWatch"/>.</summary>
public readonly struct WatchEvent
{
    /// <summary>Creates an event.</summary>
    /// <param name="type">What changed.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">The new value (empty for deletes).</param>
    /// <param name="version">The revision of the change.</param>
    public WatchEvent(WatchEventType type, string key, ReadOnlyMemory<byte> value, long version)
    {
        Type = type;
        Key = key;
        Value = value;
        Version = version;
    }

    /// <summary>What changed.</summary>
    public WatchEventType Type { get; }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>The new value; empty for <see cref="WatchEventType.Delete"/>.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The store revision of the change: for a put, the key's new <see cref="VersionedValue.Version"/>.</summary>
    public long Version { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Type} {Key}@{Version}";
}
