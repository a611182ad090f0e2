using System.Text;
using System.Text.Json;
using DistributedLog.Bookie.Registration;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>When a bookie republishes its free disk and ledger count: only on a meaningful change, never more often than the interval.</summary>
public sealed class RegistrationUsageTests
{
    private const long GiB = 1L << 30;
    private static readonly TimeSpan Later = BookieRegistration.UsageInterval + TimeSpan.FromSeconds(1);

    [Fact]
    public void A_changed_ledger_count_is_published_once_the_interval_passed()
    {
        Assert.True(BookieRegistration.UsageChanged((100 * GiB, 3), (100 * GiB, 4), Later));
        Assert.False(BookieRegistration.UsageChanged((100 * GiB, 3), (100 * GiB, 4), TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void Free_disk_is_published_when_it_moved_by_one_percent_and_at_least_64_MiB()
    {
        Assert.False(BookieRegistration.UsageChanged((100 * GiB, 3), (100 * GiB - GiB / 2, 3), Later));
        Assert.True(BookieRegistration.UsageChanged((100 * GiB, 3), (99 * GiB, 3), Later));
        Assert.False(BookieRegistration.UsageChanged((1 * GiB, 3), (1 * GiB - (32L << 20), 3), Later));
        Assert.True(BookieRegistration.UsageChanged((1 * GiB, 3), (1 * GiB - (64L << 20), 3), Later));
        Assert.False(BookieRegistration.UsageChanged((100 * GiB, 3), (100 * GiB, 3), Later));
    }

    [Fact]
    public void Usage_is_in_the_registration_only_when_known()
    {
        var known = new BookieRegistrationInfo("127.0.0.1:3181", BookieRegistrationInfo.Writable, DateTimeOffset.UnixEpoch) { FreeDiskBytes = 5 * GiB, LedgerCount = 7 };
        string json = Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(known, BookieRegistrationJson.Default.BookieRegistrationInfo));
        Assert.Contains($"\"freeDiskBytes\":{5 * GiB}", json, StringComparison.Ordinal);
        Assert.Contains("\"ledgerCount\":7", json, StringComparison.Ordinal);
        Assert.Equal(known, JsonSerializer.Deserialize(json, BookieRegistrationJson.Default.BookieRegistrationInfo));

        var unknown = new BookieRegistrationInfo("127.0.0.1:3181", BookieRegistrationInfo.Writable, DateTimeOffset.UnixEpoch);
        string older = Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(unknown, BookieRegistrationJson.Default.BookieRegistrationInfo));
        Assert.DoesNotContain("freeDiskBytes", older, StringComparison.Ordinal);
        Assert.DoesNotContain("ledgerCount", older, StringComparison.Ordinal);
    }
}
