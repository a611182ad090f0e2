using System.Text.Json;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Admin;

/// <summary><c>dlog admin bookies</c> against real bookie processes: writable ones with their free disk and ledger count, a SIGKILLed one as lost.</summary>
[Collection(AdminClusterCollection.Name)]
public sealed class AdminBookiesTests(AdminClusterFixture fixture)
{
    [Fact]
    public async Task Lists_writable_bookies_with_usage_and_a_killed_bookie_as_lost()
    {
        // A log on the three cluster bookies (E=3): each then stores a ledger and publishes it within a disk check or two.
        await fixture.AppendAsync(CliAssert.NewLog("bookies"), "one", "two");
        var listing = await WaitForAsync(bookies => fixture.Cluster.Bookies.All(b => Find(bookies, b.BookieId) is { } found
            && found.GetProperty("ledgerCount").ValueKind == JsonValueKind.Number && found.GetProperty("ledgerCount").GetInt32() >= 1),
            "every cluster bookie publishing at least one ledger");
        foreach (var bookie in fixture.Cluster.Bookies)
        {
            var found = Find(listing, bookie.BookieId)!.Value;
            Assert.Equal("writable", found.GetProperty("state").GetString());
            Assert.True(found.GetProperty("freeDiskBytes").GetInt64() > 0, found.ToString());
            Assert.True(found.GetProperty("registered").GetBoolean());
            Assert.True(found.GetProperty("rack").ValueKind is JsonValueKind.Null or JsonValueKind.String, found.ToString());
        }

        await using var extra = new BookieProcess(TestEntries.TempDirectory("admin-extra-bookie"), "--metadata", fixture.MetadataUri, "--journal-file-mb", "8",
            "--write-cache-mb", "16", "--log-level", "Warning");
        await extra.StartAsync();
        await WaitForAsync(bookies => Find(bookies, extra.BookieId)?.GetProperty("state").GetString() == "writable", "the extra bookie listed writable");

        // SIGKILL: its registration stays until its lease expires; its cookie stays for good.
        await extra.KillAsync();
        listing = await WaitForAsync(bookies => Find(bookies, extra.BookieId)?.GetProperty("state").GetString() == "lost", "the killed bookie listed lost");
        var lost = Find(listing, extra.BookieId)!.Value;
        Assert.False(lost.GetProperty("registered").GetBoolean());
        Assert.True(lost.GetProperty("cookie").GetBoolean());
        Assert.Equal(JsonValueKind.Null, lost.GetProperty("freeDiskBytes").ValueKind);
        Assert.All(fixture.Cluster.Bookies, b => Assert.Equal("writable", Find(listing, b.BookieId)?.GetProperty("state").GetString()));

        // The text form: a header and one line per bookie.
        var text = CliAssert.Succeeded(await fixture.AdminAsync("bookies"));
        Assert.StartsWith("BOOKIE", text.Lines[0], StringComparison.Ordinal);
        Assert.Contains(text.Lines, l => l.StartsWith(extra.BookieId, StringComparison.Ordinal) && l.Contains(" lost ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Takes_the_metadata_store_from_the_environment_and_says_when_there_is_none()
    {
        var fromEnvironment = CliAssert.Succeeded(await Dlog.RunAsync(["admin", "bookies", "--json"],
            new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_METADATA"] = fixture.MetadataUri } }));
        using var json = CliAssert.Parse(fromEnvironment.Lines[0]);
        Assert.True(json.RootElement.GetArrayLength() >= 3);

        var none = await Dlog.RunAsync(["admin", "bookies"], new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_METADATA"] = null } });
        CliAssert.UserError(none, "--metadata", "DLOG_METADATA");
    }

    private static JsonElement? Find(JsonElement bookies, string id)
    {
        foreach (var bookie in bookies.EnumerateArray())
        {
            if (bookie.GetProperty("id").GetString() == id)
            {
                return bookie;
            }
        }

        return null;
    }

    /// <summary>Lists the bookies until <paramref name="condition"/> holds (registrations change as leases expire and disks are checked).</summary>
    private async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (true)
        {
            var bookies = await fixture.AdminJsonAsync("bookies");
            Assert.Equal(JsonValueKind.Array, bookies.ValueKind);
            if (condition(bookies))
            {
                return bookies;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no {what} within 45 s: {bookies}");
            await Task.Delay(500);
        }
    }
}
