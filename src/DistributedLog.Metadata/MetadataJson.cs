using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata;

/// <summary>
/// A metadata record whose JSON carries a format version. Readers accept records of their own format version or older,
/// ignore fields they do not know (newer minor additions), and refuse records of a newer format version.
/// </summary>
public interface IVersionedMetadata
{
    /// <summary>The format version the record was written with; raise it only for changes old readers must not accept.</summary>
    int FormatVersion { get; }
}

/// <summary>
/// JSON for metadata records through System.Text.Json source generation (pass the generated <see cref="JsonTypeInfo{T}"/>),
/// so records are trimming- and AOT-safe and no reflection runs.
/// </summary>
/// <remarks>
/// Forward compatibility: unknown fields are ignored on read (System.Text.Json's default; do not set
/// <c>UnmappedMemberHandling = Disallow</c>). A record that is read, changed and written back by an older version loses
/// the fields that version does not know, unless the record keeps them in a <c>[JsonExtensionData]</c>
/// dictionary property, which is the recommended shape for records that are updated by compare-and-set.
/// </remarks>
public static class MetadataJson
{
    /// <summary>Serializes <paramref name="value"/> to UTF-8 JSON.</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="value">The record.</param>
    /// <param name="typeInfo">The source-generated type information.</param>
    /// <returns>The JSON bytes.</returns>
    public static byte[] Serialize<T>(T value, JsonTypeInfo<T> typeInfo) => JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);

    /// <summary>Serializes <paramref name="value"/> as UTF-8 JSON into <paramref name="output"/>.</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="output">Where to write.</param>
    /// <param name="value">The record.</param>
    /// <param name="typeInfo">The source-generated type information.</param>
    public static void Serialize<T>(IBufferWriter<byte> output, T value, JsonTypeInfo<T> typeInfo)
    {
        using var writer = new Utf8JsonWriter(output);
        JsonSerializer.Serialize(writer, value, typeInfo);
    }

    /// <summary>Deserializes the record stored at <see cref="VersionedValue.Key"/>.</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="value">The stored value.</param>
    /// <param name="typeInfo">The source-generated type information.</param>
    /// <returns>The record.</returns>
    /// <exception cref="MetadataStoreException">The value is not valid JSON for <typeparamref name="T"/>
    /// (<see cref="StatusCode.MetadataException"/>).</exception>
    public static T Deserialize<T>(VersionedValue value, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Deserialize(value.Value.Span, typeInfo, value.Key);
    }

    /// <summary>Deserializes a record read from <paramref name="key"/>.</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="utf8Json">The JSON bytes.</param>
    /// <param name="typeInfo">The source-generated type information.</param>
    /// <param name="key">The key it was read from, for messages.</param>
    /// <returns>The record.</returns>
    /// <exception cref="MetadataStoreException">The bytes are not valid JSON for <typeparamref name="T"/>
    /// (<see cref="StatusCode.MetadataException"/>).</exception>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8Json, JsonTypeInfo<T> typeInfo, string key)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(utf8Json, typeInfo);
        }
        catch (JsonException e)
        {
            throw new MetadataStoreException(StatusCode.MetadataException,
                $"The metadata at '{key}' is not a valid {typeof(T).Name} record: {e.Message}", isRetryable: false, e);
        }
        return value ?? throw new MetadataStoreException(StatusCode.MetadataException,
            $"The metadata at '{key}' is JSON null, not a {typeof(T).Name} record.", isRetryable: false);
    }

    /// <summary>Deserializes a versioned record read from <paramref name="key"/> and refuses one of a newer format.</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="utf8Json">The JSON bytes.</param>
    /// <param name="typeInfo">The source-generated type information.</param>
    /// <param name="key">The key it was read from, for messages.</param>
    /// <param name="maxFormatVersion">The newest format version this reader understands.</param>
    /// <returns>The record.</returns>
    /// <exception cref="MetadataStoreException">The bytes are not valid JSON for <typeparamref name="T"/>
    /// (<see cref="StatusCode.MetadataException"/>), or the record's format is newer than <paramref name="maxFormatVersion"/>
    /// (<see cref="StatusCode.UnsupportedMetadataVersion"/>).</exception>
    public static T DeserializeVersioned<T>(ReadOnlySpan<byte> utf8Json, JsonTypeInfo<T> typeInfo, string key, int maxFormatVersion)
        where T : IVersionedMetadata
    {
        T value = Deserialize(utf8Json, typeInfo, key);
        if (value.FormatVersion > maxFormatVersion)
        {
            throw new MetadataStoreException(StatusCode.UnsupportedMetadataVersion,
                $"The {typeof(T).Name} at '{key}' has format version {value.FormatVersion}; this version of DistributedLog reads " +
                $"up to {maxFormatVersion}. Upgrade it to use this metadata.", isRetryable: false);
        }
        return value;
    }
}
