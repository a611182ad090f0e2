using System.Diagnostics;
using System.Globalization;
using HdrHistogram;

namespace DistributedLog.Compare;

/// <summary>A system under test: opens one writer per workload (a key range, a stream subject, a log).</summary>
internal interface IDriver : IAsyncDisposable
{
    /// <summary>The system's name in the results (etcd, nats, core, proxy, loopback).</summary>
    string System { get; }

    /// <summary>Prepares a fresh target for <paramref name="workload"/> and returns its writer.</summary>
    Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken);
}

/// <summary>Writes one record and returns once the system acknowledged it as durable (by its own definition).</summary>
internal interface IRecordWriter : IAsyncDisposable
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);
}

/// <summary>
/// The one closed-loop harness every system is measured with: <c>outstanding</c> loops, each sending the next record
/// as soon as its previous one is acknowledged; a warm-up, then a measured window whose latencies (send to
/// acknowledgement) go into an HdrHistogram.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<RunResult> RunAsync(IDriver driver, Workload workload, TimeSpan warmup, TimeSpan measure, CancellationToken cancellationToken)
    {
        await using var writer = await driver.OpenAsync(workload, cancellationToken);
        byte[] payload = new byte[workload.Size];
        Random.Shared.NextBytes(payload);
        var histogram = new LongHistogram(TimeStamp.Minutes(1), 3);
        long errors = 0, measured = 0;
        string? firstError = null;
        long warmupEnd = Stopwatch.GetTimestamp() + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        long end = warmupEnd + (long)(measure.TotalSeconds * Stopwatch.Frequency);
        double loadAverage = double.NaN;

        // A system that stops answering must not hang the run: whatever is still in flight 30 s after the end is cancelled.
        using var stuck = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stuck.CancelAfter(warmup + measure + TimeSpan.FromSeconds(30));

        async Task Loop()
        {
            var recorder = new LongHistogram(TimeStamp.Minutes(1), 3);
            long count = 0;
            while (!stuck.IsCancellationRequested)
            {
                long start = Stopwatch.GetTimestamp();
                if (start >= end)
                {
                    break;
                }

                try
                {
                    await writer.WriteAsync(payload, stuck.Token);
                    if (start >= warmupEnd)
                    {
                        recorder.RecordValue(Stopwatch.GetTimestamp() - start);
                        count++;
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, $"{e.GetType().Name}: {e.Message}", null);
                    if (stuck.IsCancellationRequested)
                    {
                        break;
                    }

                    await Task.Delay(10, CancellationToken.None); // a failing system is not spun against
                }
            }

            lock (histogram)
            {
                histogram.Add(recorder);
                measured += count;
            }
        }

        var loops = Enumerable.Range(0, workload.Outstanding).Select(_ => Task.Run(Loop, CancellationToken.None)).ToArray();
        await Task.Delay(warmup, cancellationToken);
        loadAverage = ReadLoadAverage();
        await Task.WhenAll(loops);

        double seconds = measure.TotalSeconds;
        double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        bool any = histogram.TotalCount > 0;
        return new RunResult(driver.System, workload.Id, workload.Outstanding, workload.Size, seconds, measured, measured / seconds, errors,
            any ? Ms(histogram.GetValueAtPercentile(50)) : double.NaN,
            any ? Ms(histogram.GetValueAtPercentile(90)) : double.NaN,
            any ? Ms(histogram.GetValueAtPercentile(99)) : double.NaN,
            any ? Ms(histogram.GetValueAtPercentile(99.9)) : double.NaN,
            any ? Ms(histogram.GetMaxValue()) : double.NaN,
            loadAverage, firstError);
    }

    /// <summary>The 1-minute load average (what else runs on the machine), NaN where /proc is missing.</summary>
    public static double ReadLoadAverage()
    {
        try
        {
            string first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }
}
