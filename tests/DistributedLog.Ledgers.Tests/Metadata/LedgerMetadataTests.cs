using System.Text.Json;
using DistributedLog.Ledgers.Metadata;

namespace DistributedLog.Ledgers.Tests.Metadata;

public class LedgerMetadataTests
{
    private static LedgerMetadata Sample() => new()
    {
        LedgerId = 42,
        EnsembleSize = 3,
        WriteQuorumSize = 3,
        AckQuorumSize = 2,
        Ensembles = [new EnsembleSegment(0, ["a:1", "b:1", "c:1"]), new EnsembleSegment(17, ["a:1", "d:1", "c:1"])],
        MasterKey = [1, 2, 3],
        CreatedAt = new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero),
        CustomMetadata = new Dictionary<string, string> { ["owner"] = "test" },
    };

    [Fact]
    public void Json_round_trips_and_ignores_unknown_fields()
    {
        var metadata = Sample() with { State = LedgerState.Closed, LastEntryId = 99, Length = 1234 };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(metadata, LedgerMetadataJson.Default.LedgerMetadata);
        var back = JsonSerializer.Deserialize(json, LedgerMetadataJson.Default.LedgerMetadata)!;
        Assert.Equal(metadata.LastEntryId, back.LastEntryId);
        Assert.Equal(LedgerState.Closed, back.State);
        Assert.Equal(metadata.MasterKey, back.MasterKey);
        Assert.Equal(metadata.Ensembles.Select(s => (s.FirstEntryId, string.Join(",", s.Bookies))), back.Ensembles.Select(s => (s.FirstEntryId, string.Join(",", s.Bookies))));
        Assert.Contains("\"closed\"", System.Text.Encoding.UTF8.GetString(json), StringComparison.OrdinalIgnoreCase);

        string withExtra = System.Text.Encoding.UTF8.GetString(json).Replace("{\"formatVersion\"", "{\"futureField\":[1,2],\"formatVersion\"", StringComparison.Ordinal);
        var tolerant = JsonSerializer.Deserialize(withExtra, LedgerMetadataJson.Default.LedgerMetadata)!;
        Assert.Equal(99, tolerant.LastEntryId);
        // A rewrite (compare-and-set update) keeps what a newer writer added.
        string rewritten = JsonSerializer.Serialize(tolerant with { Length = 5 }, LedgerMetadataJson.Default.LedgerMetadata);
        Assert.Contains("\"futureField\":[1,2]", rewritten, StringComparison.Ordinal);
    }

    [Fact]
    public void Ensemble_lookup_follows_segments()
    {
        var metadata = Sample();
        Assert.Equal("b:1", metadata.EnsembleAt(16)[1]);
        Assert.Equal("d:1", metadata.EnsembleAt(17)[1]);
        Assert.Equal("d:1", metadata.EnsembleAt(1000)[1]);
        Assert.Equal("d:1", metadata.CurrentEnsemble[1]);
    }

    [Fact]
    public void Validation_names_what_is_wrong()
    {
        Assert.Null(Sample().Validate());
        Assert.Contains("E >= Qw >= Qa", Sample() with { AckQuorumSize = 4 } is var m ? m.Validate() : "", StringComparison.Ordinal);
        Assert.Contains("names a bookie twice", (Sample() with { Ensembles = [new EnsembleSegment(0, ["a:1", "a:1", "c:1"])] }).Validate(), StringComparison.Ordinal);
        Assert.Contains("has 2 bookies", (Sample() with { Ensembles = [new EnsembleSegment(0, ["a:1", "c:1"])] }).Validate(), StringComparison.Ordinal);
        Assert.Contains("master key", (Sample() with { MasterKey = [] }).Validate(), StringComparison.Ordinal);
    }
}
