using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Bench;

/// <summary>
/// Bad arguments to <c>dlog bench write|tail|catchup|omb</c> give one clear line (checked before anything is contacted),
/// an in-process sandbox serves as a target, and the OMB workload parser refuses what OMB would not run.
/// </summary>
public sealed class BenchArgumentTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("dlog-bench-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("--records and --duration", "write", "--records", "10", "--duration", "1")]
    [InlineData("--logs", "write", "--logs", "0")]
    [InlineData("--outstanding", "write", "--outstanding", "0")]
    [InlineData("--rate", "write", "--rate", "-5")]
    [InlineData("--batch", "write", "--batch", "0")]
    [InlineData("--batch × --size", "write", "--batch", "100000", "--size", "1000")]
    [InlineData("--duration", "write", "--duration", "0")]
    [InlineData("--in-process and --metadata", "write", "--in-process", "--metadata", "etcd://127.0.0.1:1/x")]
    [InlineData("--endpoint and --in-process", "write", "--in-process", "--endpoint", "http://127.0.0.1:1")]
    [InlineData("--metadata", "write", "--metadata", "not a uri")]
    [InlineData("--size", "tail", "--size", "8")]
    [InlineData("--readers", "tail", "--readers", "0")]
    [InlineData("--records", "catchup", "--records", "0")]
    public async Task Bad_arguments_give_one_clear_line(string mention, params string[] args)
    {
        CliAssert.UserError(await Dlog.RunAsync(["bench", .. args]), mention);
    }

    [Theory]
    [InlineData("topics", "topics: 0\npartitionsPerTopic: 1\nmessageSize: 100\nuseRandomizedPayloads: true\nrandomizedPayloadPoolSize: 1\nproducersPerTopic: 1\ntestDurationMinutes: 1\n")]
    [InlineData("keyDistributor", "topics: 1\npartitionsPerTopic: 1\nkeyDistributor: SOMETIMES\nmessageSize: 100\nuseRandomizedPayloads: true\nrandomizedPayloadPoolSize: 1\nproducersPerTopic: 1\n")]
    [InlineData("payloadFile", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\npayloadFile: payload/none.data\nproducersPerTopic: 1\ntestDurationMinutes: 1\n")]
    [InlineData("messageSize", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 4\nuseRandomizedPayloads: true\nrandomizedPayloadPoolSize: 1\nproducersPerTopic: 1\n")]
    [InlineData("testDurationMinutes", "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nuseRandomizedPayloads: true\nrandomizedPayloadPoolSize: 1\nproducersPerTopic: 1\n")]
    [InlineData("line", "topics: [1\npartitionsPerTopic: 1\n")]
    public async Task Omb_refuses_a_bad_workload_file_in_one_line(string mention, string yaml)
    {
        string file = Path.Combine(_directory, "workload.yaml");
        await File.WriteAllTextAsync(file, yaml);
        CliAssert.UserError(await Dlog.RunAsync(["bench", "omb", file, "--endpoint", "http://127.0.0.1:1"]), mention);
    }

    [Fact]
    public async Task Every_bundled_workload_file_parses()
    {
        // The file is read and checked before --duration: a --duration error means the workload itself was accepted.
        string[] files = Directory.GetFiles(Path.GetDirectoryName(BenchJson.Workload("x"))!, "*.yaml");
        Assert.True(files.Length >= 4, $"expected the bundled OMB workloads, found {files.Length}");
        foreach (string file in files)
        {
            CliAssert.UserError(await Dlog.RunAsync(["bench", "omb", file, "--duration", "0"]), "--duration");
        }
    }

    [Fact]
    public async Task Omb_says_when_the_workload_file_is_missing()
    {
        CliAssert.UserError(await Dlog.RunAsync(["bench", "omb", Path.Combine(_directory, "nothing.yaml")]), "does not exist");
    }

    [Fact]
    public async Task Omb_substitutes_environment_variables_and_duration_overrides_the_file()
    {
        // The max-rate workload's testDurationMinutes is ${ombTestDuration:-15}; --duration wins over it anyway, and a
        // variable that is not a number shows the substitution happened.
        var result = await Dlog.RunAsync(["bench", "omb", BenchJson.Workload("max-rate-1-topic-1-partition-1p-1c-100b.yaml"), "--duration", "1"],
            new DlogRunOptions { Environment = new Dictionary<string, string?> { ["ombTestDuration"] = "soon" } });
        CliAssert.UserError(result, "soon");
    }

    [Fact]
    public async Task Write_against_an_in_process_sandbox()
    {
        var summary = BenchJson.Summary(await Dlog.RunAsync(["bench", "write", "--in-process", "--records", "500", "--outstanding", "8", "--warmup", "0", "--json"]));
        BenchJson.Sane(summary);
        Assert.Equal(500, summary.GetProperty("records").GetInt64());
        Assert.Contains("in-process", summary.GetProperty("target").GetString(), StringComparison.Ordinal);
    }
}
