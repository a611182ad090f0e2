using System.Diagnostics;
using DistributedLog.Cli.Commands;
using HdrHistogram;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// A latency histogram in <see cref="Stopwatch"/> ticks that many tasks record into (HdrHistogram, 3 significant
/// digits, up to 10 minutes), with the counts a progress line shows.
/// </summary>
internal sealed class Latency
{
    private readonly LongHistogram _histogram = new(TimeStamp.Minutes(10), 3);
    private long _count;
    private long _interval;

    public long Count => Volatile.Read(ref _count);

    public void Record(long ticks, long count = 1)
    {
        lock (_histogram)
        {
            _histogram.RecordValueWithCount(Math.Clamp(ticks, 0, _histogram.HighestTrackableValue), count);
        }

        Interlocked.Add(ref _count, count);
        Interlocked.Add(ref _interval, count);
    }

    /// <summary>Adds everything <paramref name="other"/> recorded.</summary>
    public void Add(Latency other)
    {
        lock (other._histogram)
        {
            lock (_histogram)
            {
                _histogram.Add(other._histogram);
            }
        }

        Interlocked.Add(ref _count, other.Count);
    }

    /// <summary>Counts completions that are not measured (the warm-up) for the progress line only.</summary>
    public void Completed(long count) => Interlocked.Add(ref _interval, count);

    /// <summary>How many completed since the last call (for the progress line).</summary>
    public long TakeInterval() => Interlocked.Exchange(ref _interval, 0);

    public double PercentileMs(double percentile)
    {
        lock (_histogram)
        {
            return _histogram.TotalCount == 0 ? 0 : ToMs(_histogram.GetValueAtPercentile(percentile));
        }
    }

    public double MaxMs()
    {
        lock (_histogram)
        {
            return _histogram.TotalCount == 0 ? 0 : ToMs(_histogram.GetMaxValue());
        }
    }

    public double MeanMs()
    {
        lock (_histogram)
        {
            return _histogram.TotalCount == 0 ? 0 : _histogram.GetMean() * 1000.0 / Stopwatch.Frequency;
        }
    }

    public static double ToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public static long FromSeconds(double seconds) => (long)(seconds * Stopwatch.Frequency);
}

/// <summary>
/// The live progress line of a run: redrawn once a second on stderr, only when stdout and stderr are a terminal and no
/// JSON was asked for; erased when the run ends.
/// </summary>
internal sealed class ProgressLine : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _drawing;

    private ProgressLine(Func<double, string> line)
    {
        _drawing = Task.Run(async () =>
        {
            long started = Stopwatch.GetTimestamp();
            long last = started;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token))
                {
                    long now = Stopwatch.GetTimestamp();
                    double seconds = (now - last) / (double)Stopwatch.Frequency;
                    last = now;
                    string text = $"{(now - started) / (double)Stopwatch.Frequency,5:F0} s  {line(seconds)}";
                    Console.Error.Write("\r" + text + "\u001b[K");
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    /// <summary>A progress line drawing <paramref name="line"/> (given the seconds since the last draw), or null when none is shown.</summary>
    public static ProgressLine? StartIf(bool json, Func<double, string> line) => ClientOptions.ShowProgress(json) ? new ProgressLine(line) : null;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _drawing;
        _stop.Dispose();
        Console.Error.Write("\r\u001b[K");
    }
}
