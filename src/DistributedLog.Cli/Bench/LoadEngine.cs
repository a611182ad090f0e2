using System.Diagnostics;

namespace DistributedLog.Cli.Bench;

/// <summary>How a load runs: in flight, records per call, pacing, warm-up, and when it stops.</summary>
internal sealed record LoadSettings(int Outstanding, int Batch, double Rate, double WarmupSeconds, double? DurationSeconds, long? Records);

/// <summary>What a load did: records acknowledged in the measured part and the time it took, records failed (warm-up too), calls made, the first error.</summary>
internal sealed record LoadResult(long Records, long Errors, double Seconds, long Issued, string? FirstError);

/// <summary>
/// Runs calls against a system under test and records their latency. Without a rate it is a closed loop: a fixed
/// number of callers, each starting its next call when the last one completed, latency from the call's start. With a
/// rate it is an open loop free of coordinated omission: call <c>i</c> is due at <c>start + i × batch / rate</c>,
/// started by one pacer (in order) as soon as it is due and one of <see cref="LoadSettings.Outstanding"/> slots is
/// free, and its latency is measured from when it was due, so a stall shows in the latency of every call it delayed
/// rather than hiding in fewer calls (the correction HdrHistogram's and wrk2's authors describe). A timed run stops
/// issuing at its end even when calls are still due (the rate was not reached: the latency shows it).
/// </summary>
internal static class LoadEngine
{
    /// <summary>
    /// One call: sends <see cref="LoadSettings.Batch"/> records (the <paramref name="index"/>-th call, due at
    /// <paramref name="due"/> in <see cref="Stopwatch"/> ticks); must hand its records to the system before it first
    /// waits (so that calls leave in index order), and returns how many of them failed.
    /// </summary>
    public delegate Task<int> Call(long index, long due);

    public static async Task<LoadResult> RunAsync(LoadSettings settings, Call call, Latency latency, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        long warmupEnd = start + Latency.FromSeconds(settings.WarmupSeconds);
        long end = settings.DurationSeconds is { } duration ? warmupEnd + Latency.FromSeconds(duration) : long.MaxValue;
        long callsNeeded = settings.Records is { } records ? (records + settings.Batch - 1) / settings.Batch : long.MaxValue;
        long issued = 0, measuredIssued = 0, errors = 0, lastDone = warmupEnd;
        string? firstError = null;

        async Task OneAsync(long index, long due, bool measured)
        {
            int failed;
            try
            {
                failed = await call(index, due);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Interlocked.CompareExchange(ref firstError, e.Message, null);
                failed = settings.Batch;
            }

            long done = Stopwatch.GetTimestamp();
            if (failed > 0)
            {
                Interlocked.Add(ref errors, failed);
            }

            if (!measured)
            {
                latency.Completed(settings.Batch - failed);
                return;
            }

            if (failed < settings.Batch)
            {
                latency.Record(done - due, settings.Batch - failed);
            }

            long seen;
            while ((seen = Volatile.Read(ref lastDone)) < done && Interlocked.CompareExchange(ref lastDone, done, seen) != seen)
            {
            }
        }

        if (settings.Rate <= 0)
        {
            async Task Caller()
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (now >= end)
                    {
                        break;
                    }

                    bool measured = now >= warmupEnd;
                    if (measured && Interlocked.Increment(ref measuredIssued) > callsNeeded)
                    {
                        break;
                    }

                    await OneAsync(Interlocked.Increment(ref issued) - 1, now, measured);
                }
            }

            await Task.WhenAll(Enumerable.Range(0, settings.Outstanding).Select(_ => Task.Run(Caller, CancellationToken.None)));
        }
        else
        {
            double callsPerTick = settings.Rate / settings.Batch / Stopwatch.Frequency;
            using var slots = new SemaphoreSlim(settings.Outstanding, settings.Outstanding);
            bool stop = false;
            while (!stop && !cancellationToken.IsCancellationRequested)
            {
                long dueNow = (long)((Stopwatch.GetTimestamp() - start) * callsPerTick);
                while (issued < dueNow)
                {
                    long due = start + (long)(issued / callsPerTick);
                    bool measured = due >= warmupEnd;
                    // The end of the run ends issuing too: calls still due then (the system fell behind the rate) are not sent.
                    if (due >= end || Stopwatch.GetTimestamp() >= end || (measured && measuredIssued >= callsNeeded))
                    {
                        stop = true;
                        break;
                    }

                    try
                    {
                        await slots.WaitAsync(cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        stop = true;
                        break;
                    }

                    if (measured)
                    {
                        measuredIssued++;
                    }

                    _ = RunInSlotAsync(issued++, due, measured);
                }

                if (!stop)
                {
                    await Task.Delay(1, CancellationToken.None);
                }
            }

            // Wait for the calls in flight: every slot back.
            for (int i = 0; i < settings.Outstanding; i++)
            {
                await slots.WaitAsync(CancellationToken.None);
            }

            async Task RunInSlotAsync(long index, long due, bool measured)
            {
                try
                {
                    await OneAsync(index, due, measured);
                }
                finally
                {
                    slots.Release();
                }
            }
        }

        long measuredRecords = latency.Count;
        double seconds = Math.Max(Latency.ToMs(Volatile.Read(ref lastDone) - warmupEnd) / 1000, 1e-6);
        return new LoadResult(measuredRecords, Interlocked.Read(ref errors), seconds, issued, firstError);
    }
}
