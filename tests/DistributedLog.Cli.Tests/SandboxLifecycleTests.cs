using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>A sandbox of its own, which these tests stop (SIGTERM), kill (SIGKILL) and restart on the same data.</summary>
public sealed class LifecycleSandboxFixture : IAsyncLifetime
{
    public SandboxProcess Sandbox { get; } = new();

    public Task InitializeAsync() => Sandbox.StartAsync();

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

/// <summary>
/// <c>dlog sandbox</c> stops cleanly on SIGTERM; after a SIGKILL a restart on the same <c>--data</c> serves again and
/// every acknowledged record is read back exactly once, in order; truncation of the completed segments.
/// </summary>
public sealed class SandboxLifecycleTests(LifecycleSandboxFixture fixture) : IClassFixture<LifecycleSandboxFixture>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(90);

    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Sigterm_stops_cleanly_a_restart_keeps_every_record_and_truncation_cuts_completed_segments()
    {
        await EnsureRunningAsync();
        string log = CliAssert.NewLog("term");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        var before = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("r1\nr2\nr3\n", "write", log, "--json")));

        Assert.Equal(0, await Sandbox.StopAsync());
        Assert.DoesNotContain("   at ", Sandbox.Output, StringComparison.Ordinal);
        await Sandbox.StartAsync();

        // Everything is there; the stopped proxy completed the segment, the next write starts another one.
        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(["r1", "r2", "r3"], records.Select(r => r.Text));
        Assert.Equal(before.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
        var after = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("r4\nr5\n", "write", log, "--json")));
        Assert.True(CliAssert.ToDlsn(after[0].Dlsn).LogSegmentSequenceNo > CliAssert.ToDlsn(before[^1].Dlsn).LogSegmentSequenceNo);
        using (var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("show", log, "--json")).Lines)))
        {
            var root = shown.RootElement;
            Assert.Equal(5, root.GetProperty("recordCount").GetInt64());
            Assert.Equal(before[0].Dlsn, root.GetProperty("firstDlsn").GetString());
            Assert.Equal(after[^1].Dlsn, root.GetProperty("lastDlsn").GetString());
            Assert.Equal(after[^1].TxId, root.GetProperty("lastTxId").GetInt64());
            var segments = root.GetProperty("segments").EnumerateArray().ToArray();
            Assert.Equal(2, segments.Length);
            Assert.False(segments[0].GetProperty("inProgress").GetBoolean());
            Assert.Equal(3, segments[0].GetProperty("recordCount").GetInt64());
            Assert.Equal(before[^1].TxId, segments[0].GetProperty("lastTxId").GetInt64());
            Assert.True(segments[1].GetProperty("inProgress").GetBoolean());
            Assert.Equal(3, segments[1].GetProperty("startSequenceId").GetInt64());
        }

        // Truncate before the first record of the second segment.
        using (var truncated = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("truncate", log, "--before", after[0].Dlsn, "--json")).Lines)))
        {
            Assert.True(truncated.RootElement.GetProperty("truncated").GetBoolean());
        }

        using (var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("show", log, "--json")).Lines)))
        {
            var root = shown.RootElement;
            Assert.Equal(2, root.GetProperty("recordCount").GetInt64());
            Assert.Equal(after[0].Dlsn, root.GetProperty("firstDlsn").GetString());
            Assert.Equal(after[^1].Dlsn, root.GetProperty("lastDlsn").GetString());
        }

        // Reading from a truncated position is a user error; from the start, from a txid or from the first active
        // position gives what is left.
        CliAssert.UserError(await Sandbox.RunAsync("read", log, "--from", before[0].Dlsn), "truncated");
        CliAssert.UserError(await Sandbox.RunAsync("read", log, "--from", before[2].Dlsn, "--json"), "truncated");
        Assert.Equal(["r4", "r5"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));
        Assert.Equal(["r4", "r5"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from-txid", "0", "--json"))).Select(r => r.Text));
        var rest = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--from", after[0].Dlsn, "--json")));
        Assert.Equal(after.Select(a => a.Dlsn), rest.Select(r => r.Dlsn));
        Assert.Equal([3L, 4L], rest.Select(r => r.SequenceId));
    }

    [Fact]
    public async Task Sigkill_mid_write_then_restart_reads_back_every_acknowledged_record_once_in_order()
    {
        await EnsureRunningAsync();
        string log = CliAssert.NewLog("kill");
        const int Size = 64;
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));

        // A long generated write, killed (the whole sandbox) once some thousands are acknowledged.
        IReadOnlyList<WriteAck> acked;
        await using (var writer = Dlog.Start(["write", log, "--count", "1000000", "--size", Size.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", "--endpoint", Sandbox.Endpoint]))
        {
            await writer.WaitForLinesAsync(3000, Generous);
            await Sandbox.KillAsync();
            var result = await writer.WaitForExitAsync(Generous);

            // It stops non-zero, says how many were acknowledged, and printed exactly those (and, for the records in
            // flight when the connection broke, that their outcome is unknown).
            string error = CliAssert.UserError(result);
            acked = CliAssert.Acks(result.Lines.Where(l => !l.Contains("\"outcome\":\"unknown\"", StringComparison.Ordinal)));
            Assert.Contains($"after {acked.Count} acknowledged records", error, StringComparison.Ordinal);
        }

        Assert.True(acked.Count is >= 3000 and < 1000000);
        CliAssert.InOrder(acked);

        await Sandbox.StartAsync();
        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        AssertAcknowledgedOnceInOrder(acked, records, Size);

        // The log takes writes again (once the killed proxy's ownership lease expired: the client retries) and the
        // recovered segment keeps everything acknowledged.
        var more = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("after-restart\n", "write", log, "--json")));
        records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal("after-restart", records[^1].Text);
        Assert.Equal(more[0].Dlsn, records[^1].Dlsn);
        AssertAcknowledgedOnceInOrder(acked, records.Take(records.Count - 1).ToArray(), Size);
    }

    [Fact]
    public async Task Sigkill_right_after_a_write_then_restart_reads_back_every_acknowledged_record()
    {
        await EnsureRunningAsync();
        string log = CliAssert.NewLog("killafter");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("k1\nk2\nk3\n", "write", log, "--json")));
        await Sandbox.KillAsync();

        await Sandbox.StartAsync();
        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(["k1", "k2", "k3"], records.Select(r => r.Text));
        Assert.Equal(acks.Select(a => a.Dlsn), records.Select(r => r.Dlsn));
        using var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("show", log, "--json")).Lines));
        Assert.Equal(3, shown.RootElement.GetProperty("recordCount").GetInt64());
        Assert.Equal(acks[^1].Dlsn, shown.RootElement.GetProperty("lastDlsn").GetString());
    }

    /// <summary>
    /// The records start with every acknowledged one, same DLSN and payload, in order, each once; after them may come
    /// records whose acknowledgement was lost in the crash, but only the next generated ones, in order, each once.
    /// </summary>
    private static void AssertAcknowledgedOnceInOrder(IReadOnlyList<WriteAck> acked, IReadOnlyList<ReadRecord> records, int size)
    {
        Assert.True(records.Count >= acked.Count, $"{acked.Count} records were acknowledged but only {records.Count} read back");
        for (int i = 0; i < acked.Count; i++)
        {
            Assert.Equal(acked[i].Dlsn, records[i].Dlsn);
            Assert.Equal(acked[i].TxId, records[i].TxId);
        }

        for (int i = 0; i < records.Count; i++)
        {
            if (records[i].Text != CliAssert.Generated(i, size))
            {
                Assert.Fail($"record {i} at {records[i].Dlsn} is '{records[i].Text}', expected '{CliAssert.Generated(i, size)}'");
            }

            Assert.Equal(i, records[i].SequenceId);
        }
    }

    private async Task EnsureRunningAsync()
    {
        if (!Sandbox.IsRunning)
        {
            await Sandbox.StartAsync();
        }
    }
}
