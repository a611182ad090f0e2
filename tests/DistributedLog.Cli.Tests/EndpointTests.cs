using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>Client commands find the proxy through <c>--endpoint</c> or the <c>DLOG_ENDPOINT</c> environment variable.</summary>
[Collection(SandboxCollection.Name)]
public sealed class EndpointTests(SandboxFixture fixture)
{
    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Endpoint_flag_and_environment_variable_both_work_and_the_flag_wins()
    {
        string log = CliAssert.NewLog("ep");
        string closed = $"http://127.0.0.1:{BookieProcess.FreePort()}";
        var toSandbox = new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_ENDPOINT"] = Sandbox.Endpoint } };
        var toNowhere = new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_ENDPOINT"] = closed } };

        // Only the environment variable.
        CliAssert.Succeeded(await Dlog.RunAsync(["create", log], toSandbox));
        CliAssert.Succeeded(await Dlog.RunAsync(["write", log], new DlogRunOptions { Environment = toSandbox.Environment, Stdin = "via-env\n" }));

        // Only the flag.
        CliAssert.Succeeded(await Dlog.RunAsync(["write", log, "--endpoint", Sandbox.Endpoint], new DlogRunOptions { Stdin = "via-flag\n" }));

        // Both: the flag wins over an environment variable naming a closed port.
        CliAssert.Succeeded(await Dlog.RunAsync(["write", log, "--endpoint", Sandbox.Endpoint], new DlogRunOptions { Environment = toNowhere.Environment, Stdin = "flag-wins\n" }));

        string[] expected = ["via-env", "via-flag", "flag-wins"];
        Assert.Equal(expected, CliAssert.Records(CliAssert.Succeeded(await Dlog.RunAsync(["read", log, "--json"], toSandbox))).Select(r => r.Text));
        Assert.Equal(expected, CliAssert.Records(CliAssert.Succeeded(await Dlog.RunAsync(["read", log, "--json", "--endpoint", Sandbox.Endpoint], toNowhere))).Select(r => r.Text));
        Assert.Contains(log, CliAssert.Succeeded(await Dlog.RunAsync(["list"], toSandbox)).Lines);
    }
}

/// <summary>A proxy that cannot be reached is a user error (one line, non-zero exit), for every kind of command.</summary>
public sealed class UnreachableProxyTests
{
    [Fact]
    public async Task Proxy_unreachable()
    {
        // A port nobody listens on. The client retries an unreachable proxy within its retry budget, so run them together.
        string closed = $"http://127.0.0.1:{BookieProcess.FreePort()}";
        var results = await Task.WhenAll(
            Dlog.RunAsync(["list", "--endpoint", closed]),
            Dlog.RunAsync(["read", "orders", "--endpoint", closed]),
            Dlog.RunAsync(["write", "orders", "--json", "--endpoint", closed], new DlogRunOptions { Stdin = "a\nb\n" }),
            Dlog.RunAsync(["create", "orders"], new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_ENDPOINT"] = closed } }));
        foreach (var result in results)
        {
            CliAssert.UserError(result, closed, "unreachable");
        }

        Assert.Empty(results[2].Stdout);
    }
}
