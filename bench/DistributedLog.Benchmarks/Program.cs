using BenchmarkDotNet.Running;

namespace DistributedLog.Benchmarks;

public static class Program
{
    /// <summary>Runs the BenchmarkDotNet benchmarks, or with <c>fanout</c> first the read fan-out harness (<see cref="FanoutHarness"/>).</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "fanout")
        {
            return await FanoutHarness.RunAsync(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
