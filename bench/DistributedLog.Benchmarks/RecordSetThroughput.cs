using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using DistributedLog.Client;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;

namespace DistributedLog.Benchmarks;

/// <summary>
/// End-to-end throughput of record sets into one log, on the core path (<see cref="AsyncLogWriter"/> against the
/// cluster's metadata store) or through a proxy (<see cref="LogWriteStream"/>): one producer builds sets of
/// <c>--batch</c> records of <c>--size</c> bytes and keeps <c>--outstanding</c> sets in flight. Prints records/s after a
/// 2 s warm-up. Not a BenchmarkDotNet benchmark (it needs a running cluster): see scripts/bench-recordsets.sh.
/// </summary>
/// <remarks>
/// <c>DistributedLog.Benchmarks recordsets core|proxy --target METADATA_URI|ENDPOINT [--seconds S] [--batch N] [--size B] [--outstanding K] [--compression none|lz4]</c>
/// </remarks>
internal static class RecordSetThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 1 || args[0] is not ("core" or "proxy"))
        {
            await Console.Error.WriteLineAsync("usage: recordsets core|proxy --target URI [--seconds S] [--batch N] [--size B] [--outstanding K] [--compression none|lz4]");
            return 2;
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            options[args[i]] = args[i + 1];
        }

        string Option(string name, string fallback) => options.TryGetValue(name, out var value) ? value : fallback;
        string target = Option("--target", "");
        double seconds = double.Parse(Option("--seconds", "10"), CultureInfo.InvariantCulture);
        int batch = int.Parse(Option("--batch", "100"), CultureInfo.InvariantCulture);
        int size = int.Parse(Option("--size", "100"), CultureInfo.InvariantCulture);
        int outstanding = int.Parse(Option("--outstanding", "64"), CultureInfo.InvariantCulture);
        var codec = Option("--compression", "none") == "lz4" ? CompressionCodec.Lz4 : CompressionCodec.None;
        string log = $"bench-recordsets/{Guid.NewGuid():N}";

        byte[] payload = new byte[Math.Max(size, sizeof(long) + (size / 2))];
        byte[] random = new byte[1 << 16];
        new Random(42).NextBytes(random);
        using var set = new LogRecordSetBuilder(codec);

        Func<long, Task> write;
        Func<Task> close;
        if (args[0] == "core")
        {
            var ns = await DistributedLogNamespace.OpenAsync(target, "bench");
            await ns.CreateLogAsync(log);
            var writer = await ns.OpenLog(log).OpenWriterAsync();
            write = txId => writer.WriteRecordSetAsync(set, txId).AsTask();
            close = async () =>
            {
                await writer.CloseAsync();
                await ns.DeleteLogAsync(log);
                await ns.DisposeAsync();
            };
        }
        else
        {
            var client = DistributedLogClient.Create(target);
            await client.CreateLogAsync(log);
            var stream = client.OpenWriteStream(log);
            write = txId => stream.WriteRecordSetAsync(set, txId);
            close = async () =>
            {
                await stream.CompleteAsync();
                await client.DeleteLogAsync(log);
                await client.DisposeAsync();
            };
        }

        using var window = new SemaphoreSlim(outstanding);
        long acknowledged = 0;
        long errors = 0;
        var warmUp = TimeSpan.FromSeconds(2);
        var started = Stopwatch.StartNew();
        long measuredFrom = -1;
        TimeSpan measuredStart = TimeSpan.Zero;
        var cpuStart = TimeSpan.Zero;
        long txId = 0;
        var inFlight = new List<Task>();
        while (started.Elapsed < warmUp + TimeSpan.FromSeconds(seconds))
        {
            if (measuredFrom < 0 && started.Elapsed >= warmUp)
            {
                measuredFrom = Interlocked.Read(ref acknowledged);
                measuredStart = started.Elapsed;
                cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            }

            await window.WaitAsync();
            set.Reset();
            for (int i = 0; i < batch; i++)
            {
                // Every record differs: a running number, then half the payload random bytes from a pool at a moving offset
                // (the rest stays zero), so LZ4 finds what it would in JSON-ish events, not copies of one record.
                long n = (txId * batch) + i;
                BinaryPrimitives.WriteInt64BigEndian(payload, n);
                random.AsSpan((int)(n * 61 % (random.Length - (size / 2))), size / 2).CopyTo(payload.AsSpan(sizeof(long)));
                set.TryAdd(payload);
            }

            var task = write(++txId);
            inFlight.Add(task.ContinueWith(t =>
            {
                if (t.IsFaulted)
                {
                    Interlocked.Increment(ref errors);
                }
                else
                {
                    Interlocked.Add(ref acknowledged, batch);
                }

                window.Release();
            }, TaskScheduler.Default));
            if (inFlight.Count > 4 * outstanding)
            {
                inFlight.RemoveAll(t => t.IsCompleted);
            }
        }

        long measured = Interlocked.Read(ref acknowledged) - measuredFrom;
        var elapsed = started.Elapsed - measuredStart;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStart;
        await Task.WhenAll(inFlight);
        await close();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{args[0]} path: sets of {batch} x {size} B ({codec}), {outstanding} sets in flight: {measured / elapsed.TotalSeconds:F0} records/s " +
            $"({measured / batch / elapsed.TotalSeconds:F0} sets/s, {measured * size / elapsed.TotalSeconds / 1e6:F1} MB/s of payload), " +
            $"client CPU {cpu.TotalMicroseconds / Math.Max(1, measured):F2} µs/record, {errors} errors"));
        return errors == 0 ? 0 : 1;
    }
}
