using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>The garbage-collection and retention flags of the server commands are validated before anything starts.</summary>
public sealed class RetentionFlagTests
{
    [Theory]
    [InlineData("--retention-hours", "-1")]
    [InlineData("--retention-hours", "NaN")]
    [InlineData("--retention-max-mb-per-log", "-5")]
    [InlineData("--retention-check-seconds", "0")]
    [InlineData("--keepalive-seconds", "-1")]
    public async Task Proxy_refuses_bad_retention_and_keep_alive_flags(string flag, string value) =>
        CliAssert.UserError(await Dlog.RunAsync(["proxy", "--metadata", "etcd://127.0.0.1:1/never", flag, value]), flag);

    [Theory]
    [InlineData("--retention-hours", "-0.5")]
    [InlineData("--retention-check-seconds", "-3")]
    public async Task Sandbox_refuses_bad_retention_flags(string flag, string value)
    {
        string data = TestEntries.TempDirectory("retention-flags");
        try
        {
            CliAssert.UserError(await Dlog.RunAsync(["sandbox", "--data", data, "--port", "0", flag, value]), flag);
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("--gc-scan-interval-seconds", "-1")]
    [InlineData("--gc-orphan-delay-seconds", "-1")]
    [InlineData("--gc-interval-seconds", "0")]
    public async Task Bookie_refuses_bad_gc_flags(string flag, string value)
    {
        string data = TestEntries.TempDirectory("gc-flags");
        try
        {
            CliAssert.UserError(await Dlog.RunAsync(["bookie", "--data", data, "--port", "0", flag, value]), flag);
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
