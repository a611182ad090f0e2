using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>User errors: a non-zero exit code and exactly one clear <c>dlog:</c> line on stderr, never a stack trace.</summary>
[Collection(SandboxCollection.Name)]
public sealed class ErrorTests(SandboxFixture fixture)
{
    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Unknown_log()
    {
        string log = CliAssert.NewLog("missing");
        CliAssert.UserError(await Sandbox.RunAsync("read", log), log, "not exist");
        CliAssert.UserError(await Sandbox.RunAsync("read", log, "--follow"), log, "not exist");
        CliAssert.UserError(await Sandbox.RunAsync("show", log, "--json"), log, "not exist");
        CliAssert.UserError(await Sandbox.RunAsync("delete", log), log, "not exist");
        var write = await Sandbox.RunWithInputAsync("x\n", "write", log, "--json");
        CliAssert.UserError(write, log, "not exist");
        Assert.Empty(write.Stdout);
        Assert.DoesNotContain(log, CliAssert.Succeeded(await Sandbox.RunAsync("list")).Lines);
    }

    [Fact]
    public async Task Unknown_log_truncate()
    {
        string log = CliAssert.NewLog("missing");
        CliAssert.UserError(await Sandbox.RunAsync("truncate", log, "--before", "1:0:0"), log, "not exist");
        CliAssert.UserError(await Sandbox.RunAsync("truncate", log, "--before", "1:0:0", "--json"), log, "not exist");
    }

    [Fact]
    public async Task Truncate_beyond_the_last_record_is_refused_and_removes_nothing()
    {
        // Issue 9: "truncate --before 999:0:0" on a log with one completed segment succeeded and deleted it silently.
        string log = CliAssert.NewLog("beyond");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        var acks = CliAssert.Acks(CliAssert.Succeeded(await Sandbox.RunWithInputAsync("r1\nr2\n", "write", log, "--json")));
        string message = CliAssert.UserError(await Sandbox.RunAsync("truncate", log, "--before", "999:0:0"), "999:0:0", "beyond its last record", acks[^1].Dlsn);
        Assert.Contains("nothing was truncated", message, StringComparison.Ordinal);
        CliAssert.UserError(await Sandbox.RunAsync("truncate", log, "--before", "999:0:0", "--json"), "beyond its last record");
        Assert.Equal(["r1", "r2"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));
    }

    [Theory]
    [InlineData("a//b")]
    [InlineData("../x")]
    [InlineData("x/./y")]
    [InlineData("bad name")]
    public async Task Invalid_name(string name)
    {
        CliAssert.UserError(await Sandbox.RunAsync("create", name), "invalid log name", name);
        CliAssert.UserError(await Sandbox.RunAsync("read", name), "invalid log name", name);
        CliAssert.UserError(await Sandbox.RunAsync("show", name), "invalid log name", name);
        var write = await Sandbox.RunWithInputAsync("x\n", "write", name);
        CliAssert.UserError(write, "invalid log name", name);
        Assert.Empty(write.Stdout);
    }

    [Fact]
    public async Task Record_too_large()
    {
        string log = CliAssert.NewLog("large");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        string huge = new('x', (1 << 20) + 1);

        // Alone: nothing written.
        var alone = await Sandbox.RunWithInputAsync(huge + "\n", "write", log, "--json");
        CliAssert.UserError(alone, "maximum record size");
        Assert.Empty(alone.Stdout);

        // After a good line: the good one is acknowledged (and printed), nothing from the large one on is written.
        var after = await Sandbox.RunWithInputAsync("good\n" + huge + "\nnever\n", "write", log, "--json");
        CliAssert.UserError(after, "maximum record size");
        var acks = CliAssert.Acks(after);
        Assert.Single(acks);

        var records = CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json")));
        Assert.Equal(["good"], records.Select(r => r.Text));
        Assert.Equal(acks[0].Dlsn, records[0].Dlsn);

        // --size over the limit is refused before anything is sent.
        CliAssert.UserError(await Sandbox.RunAsync("write", log, "--count", "1", "--size", (2 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture)), "--size");
    }

    [Fact]
    public async Task Bad_arguments()
    {
        string log = CliAssert.NewLog("args");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        CliAssert.UserError(await Sandbox.RunAsync("read", log, "--from", "not-a-dlsn"), "--from", "DLSN");
        CliAssert.UserError(await Sandbox.RunAsync("truncate", log, "--before", "1:x:0"), "--before");
        CliAssert.UserError(await Sandbox.RunAsync("read", log, "--from", "1:0:0", "--from-txid", "3"), "--from");
        CliAssert.UserError(await Sandbox.RunAsync("write", log, "--count", "-1"), "--count");

    }

    [Fact]
    public async Task Endpoint_that_is_not_a_url()
    {
        var result = await Dlog.RunAsync(["list", "--endpoint", "127.0.0.1 7000"]);
        CliAssert.UserError(result, "--endpoint");
        CliAssert.UserError(await Dlog.RunAsync(["list"], new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_ENDPOINT"] = "ftp://127.0.0.1:1" } }), "ftp://127.0.0.1:1");
    }
}
