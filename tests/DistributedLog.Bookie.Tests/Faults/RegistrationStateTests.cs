using System.Text;
using System.Text.Json;
using DistributedLog.Bookie.Registration;
using DistributedLog.Testing;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>The state carried by a bookie's registration, and the sandbox's free-space option.</summary>
public sealed class RegistrationStateTests
{
    [Theory]
    [InlineData("""{"bookieId":"127.0.0.1:3181","state":"readonly","startedAt":"2026-01-01T00:00:00+00:00"}""", false)]
    [InlineData("""{"bookieId":"127.0.0.1:3181","state":"writable","startedAt":"2026-01-01T00:00:00+00:00"}""", true)]
    [InlineData("""{"bookieId":"127.0.0.1:3181","startedAt":"2026-01-01T00:00:00+00:00"}""", true)]
    [InlineData("127.0.0.1:3181", true)]
    [InlineData("", true)]
    public void Only_a_registration_that_says_readonly_is_left_out(string value, bool writable) =>
        Assert.Equal(writable, BookieRegistrationInfo.IsWritable(Encoding.UTF8.GetBytes(value)));

    [Fact]
    public void A_registration_round_trips_its_state()
    {
        var info = new BookieRegistrationInfo("127.0.0.1:3181", BookieRegistrationInfo.ReadOnly, DateTimeOffset.UnixEpoch);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(info, BookieRegistrationJson.Default.BookieRegistrationInfo);
        Assert.Contains("\"state\":\"readonly\"", Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        Assert.False(BookieRegistrationInfo.IsWritable(json));
    }

    [Fact]
    public async Task The_sandbox_refuses_a_negative_free_space_minimum()
    {
        var result = await Dlog.RunAsync(["sandbox", "--data", TestEntries.TempDirectory("sandbox-min-free"), "--port", "0", "--min-free-mb", "-1"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--min-free-mb must not be negative", result.Stderr, StringComparison.Ordinal);
    }
}
