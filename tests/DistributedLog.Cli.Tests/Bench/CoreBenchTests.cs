using DistributedLog.Cli.Tests.Admin;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Bench;

/// <summary><c>dlog bench write|catchup|tail --metadata</c>: the core library against a real cluster (etcd and three bookie processes).</summary>
[Collection(AdminClusterCollection.Name)]
public sealed class CoreBenchTests(AdminClusterFixture fixture)
{
    [Fact]
    public async Task Write_catchup_and_tail_through_the_core_library()
    {
        var write = BenchJson.Summary(await Dlog.RunAsync(["bench", "write", "--metadata", fixture.MetadataUri, "--logs", "2", "--records", "1000",
            "--batch", "10", "--outstanding", "8", "--warmup", "0", "--json"]));
        BenchJson.Sane(write);
        Assert.Equal(1000, write.GetProperty("records").GetInt64());
        Assert.Contains("core library", write.GetProperty("target").GetString(), StringComparison.Ordinal);

        var catchup = BenchJson.Summary(await Dlog.RunAsync(["bench", "catchup", "--metadata", fixture.MetadataUri, "--records", "2000", "--json"]));
        BenchJson.Sane(catchup);
        Assert.Equal(2000, catchup.GetProperty("records").GetInt64());

        var tail = BenchJson.Summary(await Dlog.RunAsync(["bench", "tail", "--metadata", fixture.MetadataUri, "--readers", "2", "--rate", "300",
            "--duration", "1", "--warmup", "0", "--json"]));
        BenchJson.Sane(tail);
        Assert.Equal(2, tail.GetProperty("readers").GetInt32());
    }
}
