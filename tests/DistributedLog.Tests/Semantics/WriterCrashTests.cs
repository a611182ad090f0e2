using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Tests.Semantics;

/// <summary>
/// A writer process (<c>dlog append</c>) is SIGKILLed mid-stream: its ownership frees itself when its lease expires, the next
/// writer (or recover) completes its segment, and every record it reported acknowledged is in the log, in order.
/// </summary>
public sealed class WriterCrashTests(EtcdServer etcd, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    [Fact]
    public async Task A_killed_writer_frees_the_log_and_loses_nothing_acknowledged()
    {
        var clock = Stopwatch.StartNew();
        await using var cluster = await ProcessCluster.StartAsync(3, etcd);
        output.WriteLine($"cluster up at {clock.Elapsed}");
        var acked = new ConcurrentQueue<(Dlsn Dlsn, long TxId)>();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { BookieProcess.DlogDll, "append", "crash", "--metadata", cluster.MetadataUri, "--create", "--count", "1000000",
            "--size", "100", "--ownership-ttl-seconds", "2" })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                string[] parts = line.Split(' ');
                acked.Enqueue((Dlsn.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture)));
            }
        };
        process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (acked.Count < 500 && DateTime.UtcNow < deadline && !process.HasExited)
        {
            await Task.Delay(20);
        }

        output.WriteLine($"{acked.Count} acks at {clock.Elapsed}");
        if (process.HasExited)
        {
            Assert.Fail($"the writer process exited early: {await process.StandardError.ReadToEndAsync()}");
        }

        process.Kill();
        // Wait for the process, not for its redirected output to drain (that can take far longer).
        for (int i = 0; i < 200 && !process.HasExited; i++)
        {
            await Task.Delay(50);
        }

        Assert.True(process.HasExited);
        var acknowledged = acked.ToArray();
        Assert.True(acknowledged.Length >= 500);

        output.WriteLine($"killed at {clock.Elapsed}");
        await using var ns = await DistributedLogNamespace.OpenAsync(cluster.MetadataUri);
        output.WriteLine($"namespace open at {clock.Elapsed}");
        var log = ns.OpenLog("crash");
        // The dead writer's lock vanishes with its lease (2 s TTL).
        while (await ns.Store.GetAsync(ns.Metadata.Layout.Lock("crash")) is not null && clock.Elapsed < TimeSpan.FromMinutes(1))
        {
            await Task.Delay(200);
        }

        output.WriteLine($"lock gone at {clock.Elapsed}");
        // The dead writer's lock vanishes with its lease (2 s TTL); the next writer waits for it, then recovers the segment.
        await using (var next = await log.OpenWriterAsync(new LogWriterOptions { LockTimeout = TimeSpan.FromSeconds(30) }))
        {
            Assert.True(next.LastTxId >= acknowledged[^1].TxId, $"last txid {next.LastTxId} < last acknowledged {acknowledged[^1].TxId}");
            await next.CloseAsync();
        }

        output.WriteLine($"taken over at {clock.Elapsed}");
        var segments = await log.GetSegmentsAsync();
        Assert.DoesNotContain(segments, s => s.IsInProgress);
        Assert.True(await log.GetLastTxIdAsync() >= acknowledged[^1].TxId);
        await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        foreach (var (dlsn, txId) in acknowledged)
        {
            var record = await reader.ReadNextAsync(timeout.Token);
            Assert.Equal((dlsn, txId), (record.Dlsn, record.TxId));
        }
    }
}
