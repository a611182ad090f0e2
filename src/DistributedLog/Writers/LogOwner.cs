using System.Text.Json;
using System.Text.Json.Serialization;

namespace DistributedLog.Writers;

/// <summary>
/// Who holds a log's writer lock (<c>dl/&lt;ns&gt;/locks/&lt;log&gt;</c>): the writer's id and, for a writer hosted by a
/// write proxy, the proxy's endpoint — what a FOUND redirect names.
/// </summary>
public sealed record LogOwner
{
    /// <summary>The writer's id (<c>host/pid/guid</c>).</summary>
    public required string Writer { get; init; }

    /// <summary>The endpoint of the proxy that hosts the writer, when it runs in one (<see cref="LogWriterOptions.OwnerEndpoint"/>).</summary>
    public string? Endpoint { get; init; }

    /// <inheritdoc />
    public override string ToString() => Endpoint is null ? Writer : $"{Writer} at {Endpoint}";

    internal byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, LogOwnerJson.Default.LogOwner);

    /// <summary>Reads a lock value; a value that is not this JSON (an older writer's plain id) is taken as the writer id.</summary>
    internal static LogOwner Parse(ReadOnlySpan<byte> value)
    {
        try
        {
            if (JsonSerializer.Deserialize(value, LogOwnerJson.Default.LogOwner) is { Writer: not null } owner)
            {
                return owner;
            }
        }
        catch (JsonException)
        {
        }

        return new LogOwner { Writer = System.Text.Encoding.UTF8.GetString(value) };
    }
}

/// <summary>JSON of <see cref="LogOwner"/> (source-generated).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LogOwner))]
internal sealed partial class LogOwnerJson : JsonSerializerContext;
