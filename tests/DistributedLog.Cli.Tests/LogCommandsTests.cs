using System.Text.Json;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary><c>dlog create | list | show | delete</c> against a sandbox.</summary>
[Collection(SandboxCollection.Name)]
public sealed class LogCommandsTests(SandboxFixture fixture)
{
    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Create_list_show_delete()
    {
        string prefix = CliAssert.NewLog("lc");
        string first = prefix + "/orders";
        string second = prefix + "/eu/payments";

        var created = CliAssert.Succeeded(await Sandbox.RunAsync("create", first));
        Assert.Contains(first, created.Stdout, StringComparison.Ordinal);
        using (var json = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("create", second, "--json")).Lines)))
        {
            Assert.Equal(second, json.RootElement.GetProperty("log").GetString());
        }

        // Text list: one name per line; JSON list: {"logs": [...]}; --prefix filters.
        var listed = CliAssert.Succeeded(await Sandbox.RunAsync("list"));
        Assert.Contains(first, listed.Lines);
        Assert.Contains(second, listed.Lines);
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), ListJson(CliAssert.Succeeded(await Sandbox.RunAsync("list", "--prefix", prefix, "--json"))).Order(StringComparer.Ordinal));
        Assert.Equal([second], ListJson(CliAssert.Succeeded(await Sandbox.RunAsync("list", "--prefix", prefix + "/eu", "--json"))));

        // A new log shows empty.
        using (var shown = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("show", first, "--json")).Lines)))
        {
            var root = shown.RootElement;
            Assert.Equal(0, root.GetProperty("recordCount").GetInt64());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("firstDlsn").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("lastDlsn").ValueKind);
            Assert.Equal(JsonValueKind.Array, root.GetProperty("segments").ValueKind);
        }

        Assert.Contains(first, CliAssert.Succeeded(await Sandbox.RunAsync("show", first)).Stdout, StringComparison.Ordinal);

        // Creating it again is a user error.
        CliAssert.UserError(await Sandbox.RunAsync("create", first), first, "exists");

        CliAssert.Succeeded(await Sandbox.RunAsync("delete", first));
        Assert.Equal([second], ListJson(CliAssert.Succeeded(await Sandbox.RunAsync("list", "--prefix", prefix, "--json"))));
        CliAssert.UserError(await Sandbox.RunAsync("show", first), first);
        using (var deleted = CliAssert.Parse(Assert.Single(CliAssert.Succeeded(await Sandbox.RunAsync("delete", second, "--json")).Lines)))
        {
            Assert.Equal(second, deleted.RootElement.GetProperty("log").GetString());
        }

        Assert.Empty(ListJson(CliAssert.Succeeded(await Sandbox.RunAsync("list", "--prefix", prefix, "--json"))));
        Assert.Empty(CliAssert.Succeeded(await Sandbox.RunAsync("list", "--prefix", prefix)).Lines);
    }

    [Fact]
    public async Task A_deleted_log_with_records_is_gone_and_its_name_can_be_reused()
    {
        string log = CliAssert.NewLog("reuse");
        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("old-1\nold-2\n", "write", log));
        CliAssert.Succeeded(await Sandbox.RunAsync("delete", log));
        CliAssert.UserError(await Sandbox.RunAsync("read", log), log);

        CliAssert.Succeeded(await Sandbox.RunAsync("create", log));
        CliAssert.Succeeded(await Sandbox.RunWithInputAsync("new\n", "write", log));
        Assert.Equal(["new"], CliAssert.Records(CliAssert.Succeeded(await Sandbox.RunAsync("read", log, "--json"))).Select(r => r.Text));
    }

    private static IReadOnlyList<string> ListJson(DlogResult result)
    {
        using var json = CliAssert.Parse(Assert.Single(result.Lines));
        return [.. json.RootElement.GetProperty("logs").EnumerateArray().Select(e => e.GetString()!)];
    }
}
