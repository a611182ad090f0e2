using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using DistributedLog.Client;

namespace DistributedLog.Benchmarks;

/// <summary>
/// Read fan-out harness (not a BenchmarkDotNet benchmark): K tailing readers of one log through a proxy, each on its own
/// connection, while one write stream writes R records/s of B bytes. Reports write-to-read latency over all readers
/// (from the record's intended send time, so a stalled writer does not hide latency), records not delivered when the
/// writes stopped (and 10 s later), and bookie reads per record written, from the proxy's <c>/metrics</c> (the sandbox's
/// in-process bookies count <c>bookie_reads_total</c>).
/// Usage: <c>fanout --endpoint URL --metrics URL --readers K [--rate R] [--size B] [--seconds S] [--log NAME]</c>.
/// </summary>
internal static partial class FanoutHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        string endpoint = Arg(args, "--endpoint") ?? "http://127.0.0.1:7190";
        string? metricsUrl = Arg(args, "--metrics");
        int readers = int.Parse(Arg(args, "--readers") ?? "1", CultureInfo.InvariantCulture);
        int rate = int.Parse(Arg(args, "--rate") ?? "2000", CultureInfo.InvariantCulture);
        int size = Math.Max(16, int.Parse(Arg(args, "--size") ?? "100", CultureInfo.InvariantCulture));
        double seconds = double.Parse(Arg(args, "--seconds") ?? "10", CultureInfo.InvariantCulture);
        string log = Arg(args, "--log") ?? $"fanout/{readers}-{DateTime.UtcNow:HHmmss}";

        var admin = DistributedLogClient.Create(new DistributedLogClientOptions { Endpoints = [endpoint], DiscoverProxies = false });
        await admin.CreateLogAsync(log);
        await admin.WriteAsync(log, new byte[size]); // the readers start after this one

        using var http = new HttpClient();
        var before = metricsUrl is null ? default : await ScrapeAsync(http, metricsUrl);

        int records = (int)(rate * seconds);
        var latencies = new List<double>[readers];
        var delivered = new long[readers];
        var clients = new List<DistributedLogClient>();
        using var stop = new CancellationTokenSource();
        var readTasks = new List<Task>();
        var first = await FirstDlsnAsync(admin, log);
        for (int i = 0; i < readers; i++)
        {
            var client = DistributedLogClient.Create(new DistributedLogClientOptions { Endpoints = [endpoint], DiscoverProxies = false });
            clients.Add(client);
            latencies[i] = new List<double>(records);
            int reader = i;
            readTasks.Add(Task.Run(async () =>
            {
                try
                {
                    await foreach (var record in client.ReadAsync(log, new ClientReadOptions { Follow = true, From = first.Next(), Count = records }, stop.Token))
                    {
                        long sent = BitConverter.ToInt64(record.Payload.Span);
                        latencies[reader].Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                        delivered[reader]++;
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            }));
        }

        await Task.Delay(1000); // let every reader open its call

        // Rate-limited writes: each record carries its intended send time.
        var stream = admin.OpenWriteStream(log);
        var acks = new List<Task>(records);
        long start = Stopwatch.GetTimestamp();
        double interval = Stopwatch.Frequency / (double)rate;
        for (int n = 0; n < records; n++)
        {
            long intended = start + (long)(n * interval);
            while (Stopwatch.GetTimestamp() < intended)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), intended);
                if (wait > TimeSpan.FromMilliseconds(2))
                {
                    await Task.Delay(wait - TimeSpan.FromMilliseconds(1));
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }

            var payload = new byte[size];
            BitConverter.TryWriteBytes(payload, intended);
            acks.Add(stream.WriteAsync(payload));
        }

        await Task.WhenAll(acks);
        await stream.DisposeAsync();
        long notYet = records * (long)readers - delivered.Sum();
        var late = Task.WhenAll(readTasks);
        await Task.WhenAny(late, Task.Delay(TimeSpan.FromSeconds(10)));
        long missing = records * (long)readers - delivered.Sum();
        await stop.CancelAsync();
        await late;
        var after = metricsUrl is null ? default : await ScrapeAsync(http, metricsUrl);

        var all = latencies.SelectMany(l => l).Order().ToArray();
        Console.WriteLine(
            $"readers {readers}, {records} records of {size} B at {rate}/s: write-to-read p50 {Percentile(all, 0.50):0.00} ms, p90 {Percentile(all, 0.90):0.00}, " +
            $"p99 {Percentile(all, 0.99):0.00}, max {(all.Length > 0 ? all[^1] : 0):0.00}; not delivered when writes stopped: {notYet} of {records * (long)readers}, " +
            $"10 s later: {missing}");
        if (metricsUrl is not null)
        {
            long bookieReads = after.BookieReads - before.BookieReads;
            long proxyEntries = after.ProxyEntries - before.ProxyEntries;
            Console.WriteLine(
                $"  bookie reads (entries) {bookieReads}: {bookieReads / (double)records:0.000} per record written; proxy dl_proxy_read_entries {proxyEntries}");
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await admin.DisposeAsync();
        return missing == 0 ? 0 : 1;
    }

    private static async Task<Protocol.Records.Dlsn> FirstDlsnAsync(DistributedLogClient client, string log)
    {
        await foreach (var record in client.ReadAsync(log, new ClientReadOptions { Count = 1 }))
        {
            return record.Dlsn;
        }

        throw new InvalidOperationException("The log is empty.");
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static async Task<(long BookieReads, long ProxyEntries)> ScrapeAsync(HttpClient http, string url)
    {
        string text = await http.GetStringAsync(url);
        return (Sum(text, BookieReadsLine()), Sum(text, ProxyEntriesLine()));
    }

    private static long Sum(string text, Regex line)
    {
        double sum = 0;
        foreach (Match m in line.Matches(text))
        {
            sum += double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        return (long)sum;
    }

    [GeneratedRegex(@"^bookie_reads(?:_total)?(?:\{[^}]*\})? ([0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex BookieReadsLine();

    [GeneratedRegex(@"^dl_proxy_read_entries(?:_total)?(?:\{[^}]*\})? ([0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex ProxyEntriesLine();
}
