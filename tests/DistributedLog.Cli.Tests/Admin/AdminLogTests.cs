using System.Text.Json;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Segments;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Admin;

/// <summary><c>dlog admin log inspect | seal | rename | subscribers | unsubscribe</c> on logs of a real cluster.</summary>
[Collection(AdminClusterCollection.Name)]
public sealed class AdminLogTests(AdminClusterFixture fixture)
{
    private NamespaceMetadata Metadata => fixture.Namespace.Metadata;

    [Fact]
    public async Task Inspect_finds_nothing_in_a_healthy_log_and_reports_each_damage()
    {
        string log = CliAssert.NewLog("inspect");
        for (int i = 0; i < 4; i++)
        {
            await fixture.AppendAsync(log, $"s{i}-a", $"s{i}-b");
        }

        var healthy = await fixture.AdminJsonAsync("log", "inspect", log);
        Assert.True(healthy.GetProperty("consistent").GetBoolean(), healthy.ToString());
        Assert.Equal(4, healthy.GetProperty("segments").GetInt32());
        Assert.Equal(0, healthy.GetProperty("findings").GetArrayLength());
        Assert.Contains("consistent", CliAssert.Succeeded(await fixture.AdminAsync("log", "inspect", log)).Lines[0], StringComparison.Ordinal);

        // Damage on purpose: segment 2's record deleted, segment 3's ledger deleted, segment 1 marked partially truncated
        // without saying where (truncation never writes that), segment 4 ending at an entry its ledger does not end at.
        var segments = await Metadata.GetSegmentsAsync(log);
        Assert.True(await fixture.Cluster.Store.DeleteAsync(Metadata.Layout.Segment(log, 2)));
        Assert.True(await fixture.Cluster.Store.DeleteAsync(MetadataLedgerStore.LedgerKey(segments[2].Segment.LedgerId)));
        var first = segments[0].Segment with { Truncation = TruncationStatus.PartiallyTruncated, MinActiveDlsn = null };
        await fixture.Cluster.Store.PutAsync(Metadata.Layout.Segment(log, 1), JsonSerializer.SerializeToUtf8Bytes(first, LogMetadataJson.Default.LogSegmentMetadata));
        var fourth = segments[3].Segment with { LastEntryId = segments[3].Segment.LastEntryId + 5 };
        await fixture.Cluster.Store.PutAsync(Metadata.Layout.Segment(log, 4), JsonSerializer.SerializeToUtf8Bytes(fourth, LogMetadataJson.Default.LogSegmentMetadata));

        var damaged = await fixture.AdminAsync("log", "inspect", log, "--json");
        Assert.True(damaged.ExitCode == 2, $"expected exit code 2 (inconsistent), got {damaged}");
        using var report = CliAssert.Parse(Assert.Single(damaged.Lines));
        Assert.False(report.RootElement.GetProperty("consistent").GetBoolean());
        var findings = report.RootElement.GetProperty("findings").EnumerateArray()
            .Select(f => (Kind: f.GetProperty("kind").GetString(), Lssn: f.GetProperty("lssn").ValueKind == JsonValueKind.Number ? f.GetProperty("lssn").GetInt64() : -1))
            .ToList();
        Assert.Contains(("missing-segment", 3L), findings);
        Assert.Contains(("ledger-missing", 3L), findings);
        Assert.Contains(("truncation-state", 1L), findings);
        Assert.Contains(("last-entry-mismatch", 4L), findings);
        Assert.True(findings.Count == 4, damaged.Stdout);

        // The text form: a summary, then one line per finding with its kind.
        var text = await fixture.AdminAsync("log", "inspect", log);
        Assert.Equal(2, text.ExitCode);
        Assert.Contains("4 inconsistencies", text.Lines[0], StringComparison.Ordinal);
        Assert.Contains(text.Lines, l => l.StartsWith("ledger-missing segment 3:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seal_marks_end_of_stream_once_and_later_writes_fail()
    {
        string log = CliAssert.NewLog("seal");
        await fixture.AppendAsync(log, "one", "two");
        var sealedNow = await fixture.AdminJsonAsync("log", "seal", log);
        Assert.True(sealedNow.GetProperty("sealed").GetBoolean());
        Assert.False(sealedNow.GetProperty("alreadySealed").GetBoolean());
        Assert.True(await fixture.Namespace.OpenLog(log).IsEndOfStreamMarkedAsync());

        var again = await fixture.AdminJsonAsync("log", "seal", log);
        Assert.True(again.GetProperty("alreadySealed").GetBoolean());

        var write = await Dlog.RunAsync(["append", log, "--metadata", fixture.MetadataUri], new DlogRunOptions { Stdin = "late\n" });
        CliAssert.UserError(write, log, "end of stream");
        Assert.True((await fixture.AdminJsonAsync("log", "inspect", log)).GetProperty("consistent").GetBoolean());
    }

    [Fact]
    public async Task Seal_is_refused_while_a_writer_owns_the_log()
    {
        string log = CliAssert.NewLog("seal-owned");
        await using var writer = Dlog.Start(["append", log, "--metadata", fixture.MetadataUri, "--create", "--json", "--count", "100000", "--rate", "20"]);
        await writer.WaitForLinesAsync(1, TimeSpan.FromSeconds(30));
        CliAssert.UserError(await fixture.AdminAsync("log", "seal", log), log, "owned by another writer");
        Assert.False(await fixture.Namespace.OpenLog(log).IsEndOfStreamMarkedAsync());
    }

    [Fact]
    public async Task Rename_moves_the_log_with_its_subscribers_and_unsubscribe_removes_one()
    {
        string from = CliAssert.NewLog("rename-from");
        string to = CliAssert.NewLog("rename-to");
        var acks = await fixture.AppendAsync(from, "x", "y");
        var subscriptions = fixture.Namespace.OpenLog(from).Subscriptions;
        await subscriptions.AdvanceAsync("reader-a", CliAssert.ToDlsn(acks[0].Dlsn));
        await subscriptions.AdvanceAsync("reader-b", CliAssert.ToDlsn(acks[1].Dlsn));

        var renamed = await fixture.AdminJsonAsync("log", "rename", from, to);
        Assert.True(renamed.GetProperty("renamed").GetBoolean());
        Assert.False(await fixture.Namespace.LogExistsAsync(from));
        CliAssert.UserError(await fixture.AdminAsync("log", "subscribers", from), from, "does not exist");

        var listed = await fixture.AdminJsonAsync("log", "subscribers", to);
        Assert.Equal([("reader-a", acks[0].Dlsn), ("reader-b", acks[1].Dlsn)],
            listed.GetProperty("subscribers").EnumerateArray().Select(s => (s.GetProperty("id").GetString(), s.GetProperty("position").GetString())));

        var removed = await fixture.AdminJsonAsync("log", "unsubscribe", to, "reader-a");
        Assert.True(removed.GetProperty("removed").GetBoolean());
        var left = CliAssert.Succeeded(await fixture.AdminAsync("log", "subscribers", to));
        Assert.Equal([$"reader-b {acks[1].Dlsn}"], left.Lines);
        CliAssert.UserError(await fixture.AdminAsync("log", "unsubscribe", to, "reader-a"), "reader-a", "no subscriber");

        // The records moved too, and the renamed log is consistent; renaming onto an existing log is refused.
        Assert.True((await fixture.AdminJsonAsync("log", "inspect", to)).GetProperty("consistent").GetBoolean());
        string other = CliAssert.NewLog("rename-other");
        await fixture.AppendAsync(other, "z");
        CliAssert.UserError(await fixture.AdminAsync("log", "rename", other, to), to, "exists");
    }

    [Fact]
    public async Task Commands_on_a_missing_log_fail_naming_it()
    {
        string log = CliAssert.NewLog("missing");
        CliAssert.UserError(await fixture.AdminAsync("log", "inspect", log), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "inspect", log, "--json"), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "seal", log), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "rename", log, log + "-new"), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "subscribers", log, "--json"), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "unsubscribe", log, "s"), log, "does not exist");
        CliAssert.UserError(await fixture.AdminAsync("log", "inspect", "bad name"), "invalid log name");
    }
}
