using System.Globalization;
using System.Text.Json;
using DistributedLog.Bookie.Server;

namespace DistributedLog.Compare;

/// <summary>
/// <c>Compare</c>: the .NET half of <c>bench/compare/run.sh</c> (the script starts and stops the servers).
/// <list type="bullet">
/// <item><c>ports N</c>: N distinct free loopback ports below the ephemeral range.</item>
/// <item><c>bench --system etcd|nats|core|proxy|loopback --target T --seconds S --out FILE</c>: runs the workloads
/// against one system with the shared closed-loop harness and appends one JSON line per workload to FILE.</item>
/// <item><c>report --results FILE --fio FILE --doc docs/benchmarks.md --img-dir docs/img ...</c>: the table, the
/// targets and the plots, written between the compare markers of the doc.</item>
/// </list>
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        try
        {
            if (args.Length == 0)
            {
                throw new ArgumentException("usage: Compare ports N | bench --system S --target T --seconds S --out FILE | report ...");
            }

            var options = ParseOptions(args.AsSpan(1));
            switch (args[0])
            {
                case "ports":
                    Console.WriteLine(string.Join(' ', PickPorts(int.Parse(args.Length > 1 ? args[1] : "1", CultureInfo.InvariantCulture))));
                    return 0;
                case "bench":
                    return await BenchAsync(options);
                case "report":
                    Report.Write(options);
                    return 0;
                default:
                    throw new ArgumentException($"unknown command '{args[0]}' (ports, bench or report)");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or InvalidOperationException or JsonException)
        {
            Console.Error.WriteLine($"compare: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A system that cannot even be reached (its metadata store, its endpoint): one line, not a stack trace.
            Console.Error.WriteLine($"compare: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary><c>--name value</c> pairs (a lone <c>--name</c> at the end or before another option is "true").</summary>
    private static Dictionary<string, string> ParseOptions(ReadOnlySpan<string> args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }

            bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            options[args[i][2..]] = hasValue ? args[++i] : "true";
        }

        return options;
    }

    internal static string Required(this Dictionary<string, string> options, string name) =>
        options.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required");

    internal static double Seconds(this Dictionary<string, string> options, string name, double fallback, bool allowZero = false)
    {
        if (!options.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && (value > 0 || (allowZero && value == 0))
            ? value
            : throw new ArgumentException($"--{name} must be a {(allowZero ? "non-negative" : "positive")} number of seconds (got '{text}')");
    }

    private static List<int> PickPorts(int count)
    {
        if (count is < 1 or > 100)
        {
            throw new ArgumentException("ports: N must be within 1..100");
        }

        var ports = new List<int>();
        while (ports.Count < count)
        {
            int port = FreePorts.Pick();
            if (!ports.Contains(port))
            {
                ports.Add(port);
            }
        }

        return ports;
    }

    private static async Task<int> BenchAsync(Dictionary<string, string> options)
    {
        string system = options.Required("system");
        string output = options.Required("out");
        var measure = TimeSpan.FromSeconds(options.Seconds("seconds", 8));
        var warmup = TimeSpan.FromSeconds(options.Seconds("warmup", 2, allowZero: true));
        var workloads = system == "loopback"
            ? [new Workload("rtt", "1 outstanding, 1 B echo", 1, 1)]
            : options.TryGetValue("workloads", out var ids)
                ? ids.Split(',').Select(id => Workload.All.FirstOrDefault(w => w.Id == id) ?? throw new ArgumentException($"unknown workload '{id}'")).ToList()
                : Workload.All.ToList();
        using var interrupt = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            interrupt.Cancel();
        };

        string target = system == "loopback" ? "" : options.Required("target");
        await using IDriver driver = system switch
        {
            "etcd" => new EtcdDriver(target.Split(',')),
            "nats" => new NatsDriver(target),
            "core" => await CoreDriver.OpenAsync(target, interrupt.Token),
            "proxy" => new ProxyDriver(target),
            "loopback" => new LoopbackDriver(),
            _ => throw new ArgumentException($"--system must be etcd, nats, core, proxy or loopback (got '{system}')"),
        };
        int failed = 0;
        foreach (var workload in workloads)
        {
            RunResult result;
            try
            {
                result = await ClosedLoop.RunAsync(driver, workload, warmup, measure, interrupt.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException || !interrupt.IsCancellationRequested)
            {
                // The target could not even be prepared (no stream, no log): recorded as a run without operations.
                result = new RunResult(system, workload.Id, workload.Outstanding, workload.Size, measure.TotalSeconds, 0, 0, 1,
                    double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, ClosedLoop.ReadLoadAverage(), $"{e.GetType().Name}: {e.Message}");
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{system,-8} {workload.Title,-24} {result.OperationsPerSecond,10:N0}/s  p50 {result.P50Ms,7:F3} ms  p99 {result.P99Ms,7:F3} ms  errors {result.Errors}{(result.FirstError is null ? "" : "  first: " + result.FirstError)}"));
            await File.AppendAllTextAsync(output, JsonSerializer.Serialize(result, ResultJson.Default.RunResult) + "\n", CancellationToken.None);
            if (result.Operations == 0)
            {
                failed++;
            }
        }

        return failed == 0 ? 0 : 1;
    }
}
