using BenchmarkDotNet.Running;

namespace DistributedLog.Benchmarks;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // End-to-end runs against a live cluster are not BenchmarkDotNet benchmarks (see scripts/bench-recordsets.sh).
        if (args is ["recordsets", ..])
        {
            return await RecordSetThroughput.RunAsync(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
