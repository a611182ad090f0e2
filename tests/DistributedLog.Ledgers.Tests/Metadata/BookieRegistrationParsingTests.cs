using System.Text;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;

namespace DistributedLog.Ledgers.Tests.Metadata;

/// <summary>How the registry reads a bookie's registration: its rack, and whether new ledgers may use it.</summary>
public sealed class BookieRegistrationParsingTests
{
    private static RegisteredBookie Parse(string json) => MetadataBookieRegistry.Parse("b:1", Encoding.UTF8.GetBytes(json));

    [Fact]
    public void The_rack_and_state_come_from_the_registration_and_old_ones_count_as_the_default_rack()
    {
        var racked = Parse("""{"bookieId":"b:1","state":"writable","startedAt":"2026-12-08T00:00:00Z","rack":"/east/r7"}""");
        Assert.Equal(new NetworkLocation("east", "r7"), racked.Location);
        Assert.True(racked.IsPlaceable);

        var old = Parse("""{"bookieId":"b:1","state":"writable","startedAt":"2026-12-08T00:00:00Z"}""");
        Assert.Equal(NetworkLocation.Default, old.Location);
        Assert.True(old.IsPlaceable);

        var readOnly = Parse("""{"bookieId":"b:1","state":"readonly","startedAt":"2026-12-08T00:00:00Z","rack":"/east/r7"}""");
        Assert.False(readOnly.IsPlaceable);
        Assert.Equal("read-only", readOnly.NotPlaceableReason);
        Assert.Equal(new NetworkLocation("east", "r7"), readOnly.Location);

        // Unreadable values and malformed racks: a writable bookie in the default rack.
        Assert.Equal(new RegisteredBookie("b:1", NetworkLocation.Default, null), Parse("not json"));
        Assert.Equal(NetworkLocation.Default, Parse("""{"bookieId":"b:1","state":"writable","startedAt":"2026-12-08T00:00:00Z","rack":"no-slashes"}""").Location);
    }
}
