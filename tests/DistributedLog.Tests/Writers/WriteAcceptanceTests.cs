using System.Text;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Writers;

/// <summary>
/// <see cref="AsyncLogWriter.WriteAsync(LogRecord, out bool)"/>: a refused record is reported as not taken (certainly not
/// written); a taken record that later fails is of unknown outcome. The proxy's "not written" rests on this.
/// </summary>
public sealed class WriteAcceptanceTests() : ClusterTestBase("write-acceptance")
{
    protected override string? MetadataUri => null;

    private static LogRecord Record(long txId) => new(txId, Encoding.UTF8.GetBytes($"record {txId}"));

    [Fact]
    public async Task RefusedRecordsAreNotTakenAndATakenRecordThatFailsAfterAFenceWasTaken()
    {
        var log = await NewLogAsync("acceptance");
        await using var writer = await log.OpenWriterAsync();
        await writer.WriteAsync(Record(10), out bool first);
        Assert.True(first);

        var lower = writer.WriteAsync(Record(5), out bool lowerTaken);
        Assert.False(lowerTaken);
        await Assert.ThrowsAsync<TransactionIdOutOfOrderException>(async () => await lower);

        // Another writer's recovery fences this writer's segment: a record taken now fails on its add (outcome unknown,
        // it was handed over); once the writer has failed, later records are refused without being sent.
        await using (var takeover = await log.OpenWriterAsync(new LogWriterOptions { DisableOwnershipLock = true }))
        {
            await takeover.AbortAsync();
        }

        var fenced = writer.WriteAsync(Record(12), out bool fencedTaken);
        Assert.True(fencedTaken);
        await Assert.ThrowsAnyAsync<DlException>(async () => await fenced);
        Assert.NotNull(writer.Failure);

        var after = writer.WriteAsync(Record(13), out bool afterTaken);
        Assert.False(afterTaken);
        await Assert.ThrowsAnyAsync<DlException>(async () => await after);
    }
}
