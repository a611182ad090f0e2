using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary><c>dlog write</c>, <c>dlog read</c> (positions, count, follow) and <c>dlog show</c> against a sandbox.</summary>
[Collection(SandboxCollection.Name)]
public sealed class WriteReadTests(SandboxFixture fixture)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Write_from_stdin_acknowledges_each_line_in_order_and_read_returns_them()
    {
        string log = await NewLogAsync("wr");
        string[] lines = ["first", "second record", "", "ünïcödé ✓", "{\"json\": true}", "last"];
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync(string.Join('\n', lines) + "\n", "write", log, "--json")));

        // One acknowledgement per input line (the empty one too), in input order.
        Assert.Equal(lines.Length, acks.Count);
        CliAssert.InOrder(acks);

        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(lines, records.Select(r => r.Text));
        Assert.Equal(acks.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
        Assert.Equal(acks.Select(a => a.TxId), records.Select(r => r.TxId));
        Assert.Equal(Enumerable.Range(0, lines.Length).Select(i => (long)i), records.Select(r => r.SequenceId));

        // Without --json, read prints the payloads, one per line.
        Assert.Equal(lines, CliAssert.Succeeded(await Sandbox.RunAsync("read", log)).Stdout.Split('\n')[..lines.Length]);
    }

    [Fact]
    public async Task Write_without_json_reports_a_summary_and_a_last_line_without_newline_counts()
    {
        string log = await NewLogAsync("wrs");
        var written = CliAssert.Succeeded(await Sandbox.RunWithInputAsync("a\nb\nc", "write", log));
        Assert.Contains("3 records", Assert.Single(written.Lines), StringComparison.Ordinal);
        Assert.Equal(["a", "b", "c"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));

        // Empty input writes nothing and succeeds.
        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("", "write", log));
        Assert.Equal(3, CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")).Lines.Count);
    }

    [Fact]
    public async Task Write_keeps_the_bytes_of_each_line()
    {
        string log = await NewLogAsync("bytes");

        // Input that is not UTF-8 is written byte for byte (a line is the bytes before '\n', or before '\r\n').
        byte[] input = [0xff, 0xfe, 0x00, (byte)'a', (byte)'\n', (byte)'b', (byte)'\r', (byte)'\n', (byte)'c', (byte)'\r', (byte)'d'];
        var written = await Dlog.RunAsync(["write", log, "--json", "--endpoint", Sandbox.Endpoint], new DlogRunOptions { StdinBytes = input });
        Assert.Equal(3, CliAssert.Acks(CliAssert.Succeeded(written)).Count);
        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal([new byte[] { 0xff, 0xfe, 0x00, (byte)'a' }, [(byte)'b'], [(byte)'c', (byte)'\r', (byte)'d']], records.Select(r => r.Payload));
    }

    [Fact]
    public async Task Read_positions_from_dlsn_from_txid_and_count()
    {
        string log = await NewLogAsync("pos");
        string[] lines = [.. Enumerable.Range(0, 10).Select(i => $"line-{i}")];
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync(string.Join('\n', lines) + "\n", "write", log, "--json")));
        Assert.Equal(10, acks.Count);

        // --from takes the dlsn text that write and read print.
        var fromFourth = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", acks[3].Dlsn, "--json")));
        Assert.Equal(lines[3..], fromFourth.Select(r => r.Text));
        var all = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        var fromRead = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", all[7].Dlsn, "--json")));
        Assert.Equal(lines[7..], fromRead.Select(r => r.Text));
        Assert.Equal(all.Skip(7).Select(r => r.Dlsn), fromRead.Select(r => r.Dlsn));
        Assert.Equal(all.Skip(7).Select(r => r.SequenceId), fromRead.Select(r => r.SequenceId));

        // --from-txid: the first record whose txid is at least T.
        var fromTxId = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from-txid", acks[5].TxId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json")));
        Assert.Equal(acks.Where(a => a.TxId >= acks[5].TxId).Select(a => a.Dlsn), fromTxId.Select(r => r.Dlsn));
        Assert.Equal(lines[5], fromTxId[0].Text);
        Assert.Equal(lines, CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from-txid", "0", "--json"))).Select(r => r.Text));

        // --count N stops after N records, also combined with a start position.
        Assert.Equal(lines[..4], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--count", "4", "--json"))).Select(r => r.Text));
        Assert.Equal(lines[2..5], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", acks[2].Dlsn, "--count", "3", "--json"))).Select(r => r.Text));
        Assert.Equal(lines[8..], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", acks[8].Dlsn, "--count", "5", "--json"))).Select(r => r.Text));

        // Past the end: nothing, and success.
        var next = CliAssert.ToDlsn(acks[^1].Dlsn).Next().ToString();
        Assert.Empty(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", next, "--json")).Lines);
        Assert.Empty(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from-txid", (acks[^1].TxId + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "--json")).Lines);
    }

    [Fact]
    public async Task Read_without_follow_stops_at_the_current_end()
    {
        string log = await NewLogAsync("end");

        // An empty log: read ends at once with nothing.
        Assert.Empty(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")).Lines);

        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("one\ntwo\n", "write", log));

        // The process ends by itself (Dlog.RunAsync fails on its timeout otherwise) with what the log holds.
        Assert.Equal(["one", "two"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));
        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("three\n", "write", log));
        Assert.Equal(["one", "two", "three"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));
    }

    [Fact]
    public async Task Read_follow_tails_new_records_until_interrupted()
    {
        string log = await NewLogAsync("follow");
        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("before-1\nbefore-2\n", "write", log));

        await using var tail = Dlog.Start(["read", log, "--follow", "--json", "--endpoint", Sandbox.Endpoint]);
        var seen = await tail.WaitForLinesAsync(2, Generous);
        Assert.Equal(["before-1", "before-2"], CliAssert.Records(seen).Select(r => r.Text));

        // Two separate writes while it tails: each shows up, in order, after what was there.
        var firstAcks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("after-1\nafter-2\n", "write", log, "--json")));
        seen = await tail.WaitForLinesAsync(4, Generous);
        var secondAcks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("after-3\n", "write", log, "--json")));
        seen = await tail.WaitForLinesAsync(5, Generous);
        var records = CliAssert.Records(seen);
        Assert.Equal(["before-1", "before-2", "after-1", "after-2", "after-3"], records.Select(r => r.Text));
        Assert.Equal(firstAcks.Concat(secondAcks).Select(a => a.Dlsn), records.Skip(2).Select(r => r.Dlsn));
        Assert.False(tail.HasExited, "read --follow ended by itself");

        // Interrupted: it stops, without a stack trace.
        var stopped = await tail.SignalAndWaitAsync("TERM", Generous);
        Assert.DoesNotContain("   at ", stopped.Stderr, StringComparison.Ordinal);
        Assert.Equal(5, stopped.Lines.Count);
    }

    [Fact]
    public async Task Write_count_and_size_generates_records()
    {
        string log = await NewLogAsync("gen");
        const int Count = 3000;
        const int Size = 100;
        var written = CliAssert.Succeeded(await Sandbox.RunAsync("write", log, "--count", Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--size", Size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Contains($"{Count} records", Assert.Single(written.Lines), StringComparison.Ordinal);

        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(Count, records.Count);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(Size, records[i].Payload.Length);
            Assert.Equal(CliAssert.Generated(i, Size), records[i].Text);
            Assert.Equal(i, records[i].SequenceId);
        }

        // With --json, one acknowledgement per generated record, in order; tiny sizes truncate the label.
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunAsync("write", log, "--count", "50", "--size", "3", "--json")));
        Assert.Equal(50, acks.Count);
        CliAssert.InOrder(acks);
        Assert.True(CliAssert.ToDlsn(records[^1].Dlsn) < CliAssert.ToDlsn(acks[0].Dlsn));
        var tail = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", acks[0].Dlsn, "--json")));
        Assert.Equal(acks.Select(a => a.Dlsn), tail.Select(r => r.Dlsn));
        Assert.All(tail, r => Assert.Equal("rec", r.Text));
    }

    [Fact]
    public async Task Show_json_reports_counts_positions_and_segments()
    {
        string log = await NewLogAsync("show");
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("a\nb\nc\nd\n", "write", log, "--json")));

        using var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("show", log, "--json")).Lines));
        var root = shown.RootElement;
        Assert.Equal(4, root.GetProperty("recordCount").GetInt64());
        Assert.Equal(acks[^1].TxId, root.GetProperty("lastTxId").GetInt64());
        Assert.Equal(acks[0].Dlsn, root.GetProperty("firstDlsn").GetString());
        Assert.Equal(acks[^1].Dlsn, root.GetProperty("lastDlsn").GetString());
        var segment = Assert.Single(root.GetProperty("segments").EnumerateArray());
        Assert.Equal(CliAssert.ToDlsn(acks[0].Dlsn).LogSegmentSequenceNo, segment.GetProperty("lssn").GetInt64());
        Assert.True(segment.GetProperty("inProgress").GetBoolean());
        Assert.Equal(acks[0].TxId, segment.GetProperty("firstTxId").GetInt64());
        Assert.Equal(0, segment.GetProperty("startSequenceId").GetInt64());

        // The text form names the same facts.
        var text = CliAssert.Succeeded(await Sandbox.RunAsync("show", log)).Stdout;
        Assert.Contains(acks[^1].Dlsn, text, StringComparison.Ordinal);
        Assert.Contains(acks[^1].TxId.ToString(System.Globalization.CultureInfo.InvariantCulture), text, StringComparison.Ordinal);
    }

    private async Task<string> NewLogAsync(string prefix)
    {
        string log = CliAssert.NewLog(prefix);
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        return log;
    }
}
