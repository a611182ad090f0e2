using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata.Tests;

public sealed class LedgerRecord : IVersionedMetadata
{
    public int FormatVersion { get; set; } = 1;

    public long LedgerId { get; set; }

    public List<string> Ensemble { get; set; } = [];

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LedgerRecord))]
internal sealed partial class TestMetadataJsonContext : JsonSerializerContext;

public sealed class MetadataJsonTests
{
    [Fact]
    public void Records_round_trip_through_source_generated_json()
    {
        var record = new LedgerRecord { LedgerId = 42, Ensemble = ["b1:3181", "b2:3181"] };
        byte[] json = MetadataJson.Serialize(record, TestMetadataJsonContext.Default.LedgerRecord);
        Assert.Contains("\"ledgerId\":42", Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        LedgerRecord back = MetadataJson.DeserializeVersioned(json, TestMetadataJsonContext.Default.LedgerRecord, "ledgers/42", maxFormatVersion: 1);
        Assert.Equal(42, back.LedgerId);
        Assert.Equal(record.Ensemble, back.Ensemble);
    }

    [Fact]
    public void Unknown_fields_from_a_newer_writer_are_ignored_and_kept_for_rewriting()
    {
        byte[] newer = Encoding.UTF8.GetBytes("""{"formatVersion":1,"ledgerId":7,"ensemble":["b1"],"digestType":"crc32c","ctime":123}""");
        LedgerRecord record = MetadataJson.DeserializeVersioned(newer, TestMetadataJsonContext.Default.LedgerRecord, "ledgers/7", 1);
        Assert.Equal(7, record.LedgerId);
        string rewritten = Encoding.UTF8.GetString(MetadataJson.Serialize(record, TestMetadataJsonContext.Default.LedgerRecord));
        Assert.Contains("\"digestType\":\"crc32c\"", rewritten, StringComparison.Ordinal);
        Assert.Contains("\"ctime\":123", rewritten, StringComparison.Ordinal);
    }

    [Fact]
    public void A_record_of_a_newer_format_is_refused()
    {
        byte[] future = Encoding.UTF8.GetBytes("""{"formatVersion":3,"ledgerId":7}""");
        MetadataStoreException error = Assert.Throws<MetadataStoreException>(() =>
            MetadataJson.DeserializeVersioned(future, TestMetadataJsonContext.Default.LedgerRecord, "ledgers/7", 1));
        Assert.Equal(StatusCode.UnsupportedMetadataVersion, error.Code);
        Assert.Contains("ledgers/7", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("null")]
    [InlineData("{\"ledgerId\":\"seven\"}")]
    public void Invalid_json_is_a_typed_metadata_error_naming_the_key(string text)
    {
        var value = new VersionedValue("ledgers/9", Encoding.UTF8.GetBytes(text), 5, 5, 0);
        MetadataStoreException error = Assert.Throws<MetadataStoreException>(() =>
            MetadataJson.Deserialize(value, TestMetadataJsonContext.Default.LedgerRecord));
        Assert.Equal(StatusCode.MetadataException, error.Code);
        Assert.False(error.IsRetryable);
        Assert.Contains("ledgers/9", error.Message, StringComparison.Ordinal);
    }
}
