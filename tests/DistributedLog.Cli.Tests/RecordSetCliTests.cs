using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary><c>dlog write --batch N [--compression lz4|none]</c>: records sent in record sets, read back one by one by <c>dlog read</c>.</summary>
[Collection(SandboxCollection.Name)]
public sealed class RecordSetCliTests(SandboxFixture fixture)
{
    private SandboxProcess Sandbox => fixture.Sandbox;

    [Theory]
    [InlineData("none")]
    [InlineData("lz4")]
    public async Task Write_batch_sends_sets_whose_records_read_back_one_by_one_with_consecutive_slots(string compression)
    {
        string log = CliAssert.NewLog("batch");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        string[] lines = [.. Enumerable.Range(0, 250).Select(i => $"line-{i:D3} " + new string('z', 60))];
        string input = string.Join('\n', lines) + "\n";
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync(input, "write", log, "--batch", "100", "--compression", compression, "--json")));

        // One acknowledgement per record; the records of a set share its entry and txid and take consecutive slots.
        Assert.Equal(lines.Length, acks.Count);
        CliAssert.InOrder(acks);
        foreach (var (first, count) in new[] { (0, 100), (100, 100), (200, 50) })
        {
            var start = CliAssert.ToDlsn(acks[first].Dlsn);
            for (int i = 0; i < count; i++)
            {
                var dlsn = CliAssert.ToDlsn(acks[first + i].Dlsn);
                Assert.Equal((start.LogSegmentSequenceNo, start.EntryId, start.SlotId + i), (dlsn.LogSegmentSequenceNo, dlsn.EntryId, dlsn.SlotId));
                Assert.Equal(acks[first].TxId, acks[first + i].TxId);
            }
        }

        Assert.True(acks[99].TxId < acks[100].TxId);

        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(lines, records.Select(r => r.Text));
        Assert.Equal(acks.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
        Assert.Equal(acks.Select(a => a.TxId), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, lines.Length).Select(i => (long)i), records.Select(r => r.SequenceId));

        // A read can start inside a set, at any of its records.
        var fromInside = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", acks[150].Dlsn, "--count", "10", "--json")));
        Assert.Equal(lines[150..160], fromInside.Select(r => r.Text));

        // Without --json the summary counts records and sets.
        var summary = CliAssert.Succeeded(await Sandbox.RunWithInputAsync("a\nb\nc\nd\ne", "write", log, "--batch", "2", "--compression", compression));
        Assert.Contains("5 records", Assert.Single(summary.Lines), StringComparison.Ordinal);
        Assert.Contains("in 3 record sets", summary.Lines[0], StringComparison.Ordinal);
        var all = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(["a", "b", "c", "d", "e"], all.Skip(lines.Length).Select(r => r.Text));
    }

    [Fact]
    public async Task Write_batch_with_generated_records_and_invalid_batch_options_are_one_line_errors()
    {
        string log = CliAssert.NewLog("batchgen");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        var written = CliAssert.Succeeded(await Sandbox.RunAsync("write", log, "--count", "1000", "--size", "100", "--batch", "64", "--compression", "lz4"));
        Assert.Contains("1000 records", written.Stdout, StringComparison.Ordinal);
        Assert.Contains("in 16 record sets", written.Stdout, StringComparison.Ordinal);
        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => CliAssert.Generated(i, 100)), records.Select(r => r.Text));

        CliAssert.UserError(await Sandbox.RunAsync("write", log, "--count", "1", "--batch", "0"), "--batch");
        CliAssert.UserError(await Sandbox.RunAsync("write", log, "--count", "1", "--batch", "4", "--compression", "zstd"), "--compression", "zstd");
        CliAssert.UserError(await Sandbox.RunAsync("write", log, "--count", "1", "--compression", "lz4"), "--compression", "--batch");
        Assert.Equal(1000, CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Count);
    }
}
