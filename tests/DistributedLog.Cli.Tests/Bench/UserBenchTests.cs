using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Bench;

/// <summary>
/// <c>dlog bench write|tail|catchup|omb</c> through the proxy of a real <c>dlog sandbox</c> process: short runs whose one
/// JSON summary has the promised fields with sane values (no speed is asserted), and the bundled OMB workload files run.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class UserBenchTests(SandboxFixture fixture)
{
    private SandboxProcess Sandbox => fixture.Sandbox;

    [Fact]
    public async Task Write_measures_exactly_the_records_asked_for_over_several_logs()
    {
        var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "write", "--logs", "2", "--size", "100", "--outstanding", "16", "--records", "2000",
            "--warmup", "0", "--json"));
        BenchJson.Sane(summary);
        Assert.Equal(2000, summary.GetProperty("records").GetInt64());
        Assert.Equal(2, summary.GetProperty("logs").GetInt32());
        Assert.Equal(16, summary.GetProperty("outstanding").GetInt32());
        Assert.Equal(100, summary.GetProperty("recordBytes").GetInt32());
        Assert.False(summary.TryGetProperty("rate", out _), "an unpaced run has no rate");
        Assert.Contains("proxy", summary.GetProperty("target").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Paced_write_with_batches_sends_no_more_than_the_rate_allows_and_measures_from_the_intended_time()
    {
        var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "write", "--rate", "4000", "--batch", "10", "--duration", "1", "--warmup", "0",
            "--outstanding", "8", "--json"));
        BenchJson.Sane(summary);
        // Calls are due every 10/4000 s and none is sent after its run ends: at most 400 calls of 10 records in 1 s.
        Assert.True(summary.GetProperty("records").GetInt64() <= 4000, summary.GetRawText());
        Assert.Equal(10, summary.GetProperty("batch").GetInt32());
        Assert.Equal(4000, summary.GetProperty("rate").GetDouble());
        Assert.Contains("intended", summary.GetProperty("measures").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tail_delivers_every_record_in_order_to_every_reader()
    {
        var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "tail", "--readers", "3", "--rate", "500", "--size", "64", "--duration", "1.5",
            "--warmup", "0.5", "--json"));
        // errors 0: each reader got every record written, in order, with nothing repeated (checked by sequence number).
        BenchJson.Sane(summary);
        Assert.Equal(3, summary.GetProperty("readers").GetInt32());
        Assert.True(BenchJson.Ms(summary, "writeP50Ms") <= BenchJson.Ms(summary, "writeP99Ms"), summary.GetRawText());
        Assert.Contains("write-to-read", summary.GetProperty("measures").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Catchup_reads_the_whole_backlog_with_each_reader()
    {
        var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "catchup", "--records", "3000", "--size", "100", "--readers", "2", "--json"));
        BenchJson.Sane(summary);
        Assert.Equal(6000, summary.GetProperty("records").GetInt64());
        Assert.True(summary.GetProperty("writeRecordsPerSecond").GetDouble() > 0, summary.GetRawText());
    }

    [Theory]
    [InlineData("1-topic-1-partition-100b.yaml", 1)]
    [InlineData("1-topic-16-partitions-1kb.yaml", 16)]
    [InlineData("max-rate-1-topic-1-partition-1p-1c-100b.yaml", 1)]
    public async Task Omb_runs_the_bundled_workload_files(string file, int logs)
    {
        // Long enough that consumers see records inside the measured window even on a loaded 2-core machine (16 tailing
        // readers starting at once took ~0.8 s to deliver the first records in one CI rehearsal).
        var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "omb", BenchJson.Workload(file), "--duration", "3", "--warmup", "1", "--json"));
        string text = summary.GetRawText();
        Assert.Equal(logs, summary.GetProperty("logs").GetInt32());
        Assert.Equal(0, summary.GetProperty("errors").GetInt64());
        Assert.True(summary.GetProperty("publishRatePerSecond").GetDouble() > 0, text);
        Assert.True(summary.GetProperty("consumeRatePerSecond").GetDouble() > 0, text);
        Assert.True(summary.GetProperty("backlogDrained").GetBoolean(), text);
        Assert.True(BenchJson.Ms(summary, "publishP50Ms") <= BenchJson.Ms(summary, "publishP99Ms"), text);
        Assert.True(BenchJson.Ms(summary, "endToEndP50Ms") <= BenchJson.Ms(summary, "endToEndP99Ms"), text);
        Assert.True(BenchJson.Ms(summary, "endToEndP99Ms") > 0, text);
    }

    [Fact]
    public async Task Omb_with_a_consumer_backlog_starts_the_consumers_late_and_reports_the_drain()
    {
        // About 100 KiB of 100 B messages is published before the consumers start; they must then drain it.
        string file = Path.Combine(Path.GetTempPath(), $"dlog-omb-backlog-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, """
            name: backlog test
            topics: 1
            partitionsPerTopic: 2
            messageSize: 100
            useRandomizedPayloads: true
            randomBytesRatio: 0.5
            randomizedPayloadPoolSize: 10
            keyDistributor: RANDOM_NANO
            subscriptionsPerTopic: 2
            consumerPerSubscription: 1
            producersPerTopic: 1
            producerRate: 5000
            consumerBacklogSizeGB: 0.0001
            testDurationMinutes: 1
            """);
        try
        {
            var summary = BenchJson.Summary(await Sandbox.RunAsync("bench", "omb", file, "--duration", "1", "--warmup", "0", "--json"));
            string text = summary.GetRawText();
            Assert.Equal(0, summary.GetProperty("errors").GetInt64());
            Assert.Equal(2, summary.GetProperty("logs").GetInt32());
            Assert.Equal(2, summary.GetProperty("consumers").GetInt32());
            Assert.True(summary.GetProperty("backlogDrained").GetBoolean(), text);
            Assert.True(summary.GetProperty("backlogDrainSeconds").GetDouble() > 0, text);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_per_layer_benchmarks_still_run()
    {
        var proxy = BenchJson.Summary(await Sandbox.RunAsync("bench", "proxy", "--seconds", "0.5", "--inflight", "16", "--json"));
        Assert.True(proxy.GetProperty("operations").GetInt64() > 0, proxy.GetRawText());
        Assert.Equal(0, proxy.GetProperty("errors").GetInt64());

        var bookie = BenchJson.Summary(await Dlog.RunAsync(["bench", "bookie", "--seconds", "0.5", "--outstanding", "4", "--json"]));
        Assert.True(bookie.GetProperty("operations").GetInt64() > 0, bookie.GetRawText());
        Assert.Equal(0, bookie.GetProperty("errors").GetInt64());
    }
}
