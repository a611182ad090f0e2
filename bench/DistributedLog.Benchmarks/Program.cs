using BenchmarkDotNet.Running;

namespace DistributedLog.Benchmarks;

public static class Program
{
    /// <summary>
    /// Runs the BenchmarkDotNet benchmarks; with <c>recordsets</c> first the end-to-end record-set run
    /// (<see cref="RecordSetThroughput"/>), with <c>fanout</c> the read fan-out harness (<see cref="FanoutHarness"/>).
    /// </summary>
    public static async Task<int> Main(string[] args)
    {
        // End-to-end runs against a live cluster are not BenchmarkDotNet benchmarks (see scripts/bench-recordsets.sh, bench-fanout.sh).
        if (args is ["recordsets", ..])
        {
            return await RecordSetThroughput.RunAsync(args[1..]);
        }

        if (args is ["fanout", ..])
        {
            return await FanoutHarness.RunAsync(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
