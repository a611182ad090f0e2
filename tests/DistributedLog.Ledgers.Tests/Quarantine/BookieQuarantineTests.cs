using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Microsoft.Extensions.Time.Testing;

namespace DistributedLog.Ledgers.Tests.Quarantine;

public sealed class BookieQuarantineTests
{
    [Fact]
    public void A_failed_bookie_is_quarantined_until_its_time_has_passed()
    {
        var time = new FakeTimeProvider();
        var quarantine = new BookieQuarantine(TimeSpan.FromSeconds(30), time);
        quarantine.Add("b1");
        time.Advance(TimeSpan.FromSeconds(20));
        quarantine.Add("b2");
        Assert.Equal(["b1", "b2"], quarantine.Current().Order(StringComparer.Ordinal));
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(["b2"], quarantine.Current());

        // a new failure starts the time again
        quarantine.Add("b2");
        time.Advance(TimeSpan.FromSeconds(25));
        Assert.Equal(["b2"], quarantine.Current());
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(quarantine.Current());
    }

    [Fact]
    public void A_zero_quarantine_time_quarantines_nothing()
    {
        var quarantine = new BookieQuarantine(TimeSpan.Zero, new FakeTimeProvider());
        quarantine.Add("b1");
        Assert.Empty(quarantine.Current());
    }

    [Fact]
    public async Task A_writer_with_every_candidate_failing_fails_with_NotEnoughBookies_instead_of_switching_forever()
    {
        // Only one bookie of four answers: no entry can reach Qa = 2, and the bookies that failed since the last
        // acknowledged entry may not replace each other (quarantined or not).
        await using var cluster = await InProcessCluster.StartAsync(4, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(2) });
        await using var writer = await cluster.Client.CreateLedgerAsync(3, 3, 2);
        var ensemble = writer.Metadata.CurrentEnsemble;
        for (int i = 0; i < cluster.Count; i++)
        {
            if (cluster.BookieId(i) != ensemble[0])
            {
                await cluster.StopBookieAsync(i);
            }
        }

        var error = await Assert.ThrowsAsync<DlException>(async () => await writer.AddEntryAsync("x"u8.ToArray()).AsTask().WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(StatusCode.NotEnoughBookies, error.Code);
        Assert.Contains("cannot replace failed bookies", error.Message, StringComparison.Ordinal);
    }
}
