using System.Text.Json;
using System.Text.Json.Serialization;

namespace DistributedLog.Bookie.Registration;

/// <summary>What a registered bookie publishes about itself.</summary>
/// <param name="BookieId">Its id (<c>host:port</c>).</param>
/// <param name="State">"writable" or "readonly".</param>
/// <param name="StartedAt">When it started.</param>
public sealed record BookieRegistrationInfo(string BookieId, string State, DateTimeOffset StartedAt)
{
    /// <summary>The <see cref="State"/> of a bookie that accepts new entries.</summary>
    public const string Writable = "writable";

    /// <summary>The <see cref="State"/> of a bookie that only serves reads (disk full, or a storage failure).</summary>
    public const string ReadOnly = "readonly";

    /// <summary>Free bytes of the fuller of its journal and ledger disks, as last published (absent from older bookies).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? FreeDiskBytes { get; init; }

    /// <summary>Ledgers it stores, as last published (absent from older bookies).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? LedgerCount { get; init; }

    /// <summary>The bookie's network location, <c>/REGION/RACK</c> (<c>dlog bookie --rack</c>); absent counts as the default rack.</summary>
    public string? Rack { get; init; }

    /// <summary>
    /// Whether a registration value announces a writable bookie. Anything but a parseable registration whose state is
    /// <see cref="ReadOnly"/> counts as writable, so registrations written before states were published stay usable.
    /// </summary>
    public static bool IsWritable(ReadOnlySpan<byte> value)
    {
        try
        {
            var info = JsonSerializer.Deserialize(value, BookieRegistrationJson.Default.BookieRegistrationInfo);
            return !string.Equals(info?.State, ReadOnly, StringComparison.Ordinal);
        }
        catch (JsonException)
        {
            return true;
        }
    }
}

/// <summary>JSON of registrations (source-generated; unknown fields ignored).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BookieRegistrationInfo))]
public sealed partial class BookieRegistrationJson : JsonSerializerContext;
