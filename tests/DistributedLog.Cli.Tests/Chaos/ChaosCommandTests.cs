using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Chaos;

/// <summary><c>dlog chaos</c> refuses bad arguments before starting anything.</summary>
public sealed class ChaosCommandTests
{
    [Theory]
    [InlineData("1")]
    [InlineData("0")]
    [InlineData("NaN")]
    public async Task A_duration_under_five_seconds_is_refused(string duration)
    {
        var result = await Dlog.RunAsync(["chaos", "--seed", "7", "--duration", duration]);
        CliAssert.UserError(result, "--duration");
    }
}
