using System.Globalization;
using System.Text;
using System.Text.Json;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Tests.Admin;

/// <summary><c>dlog admin ledger show | read | lac | recover</c> on ledgers held by real bookie processes.</summary>
[Collection(AdminClusterCollection.Name)]
public sealed class AdminLedgerTests(AdminClusterFixture fixture)
{
    [Fact]
    public async Task Show_read_lac_and_recover_a_ledger_written_through_a_log()
    {
        string log = CliAssert.NewLog("ledger");
        string[] lines = ["alpha", "beta", "gamma", "delta"];
        var acks = await fixture.AppendAsync(log, lines);
        var segment = Assert.Single(await fixture.Namespace.OpenLog(log).GetSegmentsAsync());
        string id = segment.LedgerId.ToString(CultureInfo.InvariantCulture);

        var show = await fixture.AdminJsonAsync("ledger", "show", id);
        Assert.Equal(segment.LedgerId, show.GetProperty("ledgerId").GetInt64());
        Assert.Equal("Closed", show.GetProperty("state").GetString());
        Assert.Equal(3, show.GetProperty("ensembleSize").GetInt32());
        Assert.Equal(3, show.GetProperty("writeQuorumSize").GetInt32());
        Assert.Equal(2, show.GetProperty("ackQuorumSize").GetInt32());
        Assert.Equal(segment.LastEntryId, show.GetProperty("lastEntryId").GetInt64());
        Assert.True(show.GetProperty("length").GetInt64() > 0);
        var ensemble = Assert.Single(show.GetProperty("ensembles").EnumerateArray());
        Assert.Equal(0, ensemble.GetProperty("firstEntryId").GetInt64());
        Assert.Equal(fixture.Cluster.Bookies.Select(b => b.BookieId).Order(StringComparer.Ordinal),
            ensemble.GetProperty("bookies").EnumerateArray().Select(b => b.GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(log, show.GetProperty("customMetadata").GetProperty("log").GetString());

        // Every entry up to the last, and the user records inside them, in order, at the DLSNs the writer acknowledged.
        var read = CliAssert.Succeeded(await fixture.AdminAsync("ledger", "read", id, "--json"));
        var entries = read.Lines.Select(l => CliAssert.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(Enumerable.Range(0, (int)segment.LastEntryId + 1).Select(e => (long)e), entries.Select(e => e.GetProperty("entryId").GetInt64()));
        var records = entries.SelectMany(e => e.GetProperty("records").EnumerateArray()
            .Where(r => !r.GetProperty("control").GetBoolean())
            .Select(r => (Dlsn: $"{segment.Lssn}:{e.GetProperty("entryId").GetInt64()}:{r.GetProperty("slot").GetInt64()}", TxId: r.GetProperty("txid").GetInt64(),
                Text: Encoding.UTF8.GetString(r.GetProperty("payload").GetBytesFromBase64())))).ToList();
        Assert.Equal(lines, records.Select(r => r.Text));
        Assert.Equal(acks.Select(a => (a.Dlsn, a.TxId)), records.Select(r => (r.Dlsn, r.TxId)));

        var one = CliAssert.Succeeded(await fixture.AdminAsync("ledger", "read", id, "--from", "1", "--count", "1", "--json"));
        using (var only = CliAssert.Parse(Assert.Single(one.Lines)))
        {
            Assert.Equal(1, only.RootElement.GetProperty("entryId").GetInt64());
        }

        var text = CliAssert.Succeeded(await fixture.AdminAsync("ledger", "read", id));
        Assert.Contains(text.Lines, l => l.Contains("\"gamma\"", StringComparison.Ordinal));

        var lac = await fixture.AdminJsonAsync("ledger", "lac", id);
        Assert.Equal(segment.LastEntryId, lac.GetProperty("lastAddConfirmed").GetInt64());
        Assert.True(lac.GetProperty("closed").GetBoolean());

        var recover = await fixture.AdminJsonAsync("ledger", "recover", id);
        Assert.True(recover.GetProperty("wasClosed").GetBoolean());
        Assert.Equal(segment.LastEntryId, recover.GetProperty("lastEntryId").GetInt64());
    }

    [Fact]
    public async Task Recover_fences_an_open_ledger_and_closes_it_at_its_last_entry()
    {
        // A ledger whose writer is still alive: three entries acknowledged (raw payloads, not DistributedLog entries).
        await using var writer = await fixture.Cluster.Client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 3; i++)
        {
            await writer.AddEntryAsync(Encoding.UTF8.GetBytes($"raw-{i}"));
        }

        string id = writer.LedgerId.ToString(CultureInfo.InvariantCulture);
        var open = await fixture.AdminJsonAsync("ledger", "show", id);
        Assert.Equal("Open", open.GetProperty("state").GetString());
        var lac = await fixture.AdminJsonAsync("ledger", "lac", id);
        Assert.False(lac.GetProperty("closed").GetBoolean());
        Assert.InRange(lac.GetProperty("lastAddConfirmed").GetInt64(), 1, 2);

        var recover = await fixture.AdminJsonAsync("ledger", "recover", id);
        Assert.False(recover.GetProperty("wasClosed").GetBoolean());
        Assert.Equal("Closed", recover.GetProperty("state").GetString());
        Assert.Equal(2, recover.GetProperty("lastEntryId").GetInt64());

        // Fenced: the writer can add no more.
        var fenced = await Assert.ThrowsAnyAsync<DlException>(async () => await writer.AddEntryAsync(Encoding.UTF8.GetBytes("late")));
        Assert.Contains(fenced.Code, new[] { StatusCode.LedgerFenced, StatusCode.LedgerClosed });

        // Entries that are not DistributedLog entries are shown as such, with their bytes.
        var read = CliAssert.Succeeded(await fixture.AdminAsync("ledger", "read", id, "--json"));
        Assert.Equal(3, read.Lines.Count);
        using var first = CliAssert.Parse(read.Lines[0]);
        Assert.True(first.RootElement.TryGetProperty("error", out _), read.Lines[0]);
        Assert.Equal("raw-0", Encoding.UTF8.GetString(first.RootElement.GetProperty("payload").GetBytesFromBase64()));
    }

    [Fact]
    public async Task Errors_name_the_ledger_and_the_bad_argument()
    {
        const string missing = "987654321";
        foreach (string command in new[] { "show", "read", "lac", "recover" })
        {
            CliAssert.UserError(await fixture.AdminAsync("ledger", command, missing), missing, "does not exist");
            CliAssert.UserError(await fixture.AdminAsync("ledger", command, "abc", "--json"), "'abc'", "not a ledger id");
        }

        CliAssert.UserError(await fixture.AdminAsync("ledger", "show", "12x"), "'12x'", "not a ledger id");
        CliAssert.UserError(await fixture.AdminAsync("ledger", "read", "1", "--count", "0"), "--count");
    }
}
