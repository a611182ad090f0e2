using System.CommandLine;
using System.Diagnostics;
using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// <c>dlog append</c>: writes to a log directly through the log library (a "fat client", no proxy), printing each
/// acknowledgement as it arrives, in order: one line (or JSON object) per record with its DLSN and txid.
/// </summary>
internal static class AppendCommand
{
    public static Command Create()
    {
        var log = new Argument<string>("log") { Description = "The log to write to." };
        var metadata = new Option<string>("--metadata") { Description = "Metadata store of the cluster (etcd://host:port/root).", Required = true };
        var ns = new Option<string>("--namespace") { Description = "Namespace.", DefaultValueFactory = _ => "default" };
        var count = new Option<long>("--count") { Description = "Generated records to write (0: read lines from stdin, one record each).", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--size") { Description = "Payload bytes of generated records.", DefaultValueFactory = _ => 100 };
        var create = new Option<bool>("--create") { Description = "Create the log if it does not exist." };
        var ttl = new Option<double>("--ownership-ttl-seconds") { Description = "Lease TTL of the writer's ownership.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per acknowledged record." };
        var lockTimeout = new Option<double>("--lock-timeout-seconds") { Description = "How long to wait for the ownership lock held by another writer.", DefaultValueFactory = _ => 0 };
        var takeover = new Option<bool>("--takeover") { Description = "Take over without the ownership lock: fence the current writer's segment and carry on." };
        var rate = new Option<double>("--rate") { Description = "Generated records per second (0: as fast as acknowledgements allow).", DefaultValueFactory = _ => 0 };
        var ensemble = new Option<int>("--ensemble-size") { Description = "Ensemble size of each segment's ledger.", DefaultValueFactory = _ => 3 };
        var writeQuorum = new Option<int>("--write-quorum") { Description = "Write quorum of each segment's ledger.", DefaultValueFactory = _ => 3 };
        var ackQuorum = new Option<int>("--ack-quorum") { Description = "Ack quorum of each segment's ledger.", DefaultValueFactory = _ => 2 };
        var segmentBytes = new Option<long>("--max-segment-bytes") { Description = "Roll to a new segment once one holds this many bytes.", DefaultValueFactory = _ => 256L << 20 };
        var minRacks = PlacementOptions.MinRacks();
        var minRegions = PlacementOptions.MinRegions();
        var clockTxIds = new Option<bool>("--clock-txids")
        {
            Description = "Start txids at the current Unix time in microseconds (when above the log's last txid), as applications that use " +
                "timestamps as txids do: a writer taking over (--takeover) then never starts below the txids of the writer it fences, " +
                "which may still be writing while it opens.",
        };
        var command = new Command("append", "Write records to a log through the core library (no proxy); print each acknowledgement in order.")
        {
            log, metadata, ns, count, size, create, ttl, json, lockTimeout, takeover, rate, ensemble, writeQuorum, ackQuorum, segmentBytes, minRacks, minRegions, clockTxIds,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            string name = result.GetValue(log)!;
            long total = result.GetValue(count);
            int payloadSize = result.GetValue(size);
            double recordsPerSecond = result.GetValue(rate);
            if (total < 0 || payloadSize < 0 || payloadSize > LogRecord.MaxPayloadSize || recordsPerSecond < 0)
            {
                throw new ArgumentException($"--count and --rate must be ≥ 0 and --size within 0..{LogRecord.MaxPayloadSize}.");
            }

            var options = new LogWriterOptions
            {
                OwnershipTtl = TimeSpan.FromSeconds(result.GetValue(ttl)),
                LockTimeout = TimeSpan.FromSeconds(result.GetValue(lockTimeout)),
                DisableOwnershipLock = result.GetValue(takeover),
                EnsembleSize = result.GetValue(ensemble),
                WriteQuorumSize = result.GetValue(writeQuorum),
                AckQuorumSize = result.GetValue(ackQuorum),
                MaxSegmentBytes = result.GetValue(segmentBytes),
            };

            await using var space = await DistributedLogNamespace.OpenAsync(result.GetValue(metadata)!, result.GetValue(ns)!,
                PlacementOptions.LedgerClient(result.GetValue(minRacks), result.GetValue(minRegions), rack: null), cancellationToken: cancellationToken);
            if (result.GetValue(create) && !await space.LogExistsAsync(name, cancellationToken))
            {
                try
                {
                    await space.CreateLogAsync(name, cancellationToken);
                }
                catch (LogExistsException)
                {
                }
            }

            var manager = space.OpenLog(name);
            await using var writer = await manager.OpenWriterAsync(options, cancellationToken);
            long txId = Math.Max(0, writer.LastTxId + 1);
            if (result.GetValue(clockTxIds))
            {
                txId = Math.Max(txId, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
            }

            bool asJson = result.GetValue(json);
            var pending = new Queue<(long TxId, Task<Dlsn> Write)>();
            var stdout = Console.Out;
            async Task DrainAsync(int keep)
            {
                while (pending.Count > keep)
                {
                    var (id, write) = pending.Dequeue();
                    var dlsn = await write;
                    await stdout.WriteLineAsync(asJson ? $"{{\"dlsn\":\"{dlsn}\",\"txid\":{id}}}" : $"{dlsn} {id}");
                    await stdout.FlushAsync(cancellationToken);
                }
            }

            byte[] generated = new byte[payloadSize];
            Random.Shared.NextBytes(generated);
            if (total > 0)
            {
                long started = Stopwatch.GetTimestamp();
                for (long i = 0; i < total && !cancellationToken.IsCancellationRequested; i++)
                {
                    if (recordsPerSecond > 0)
                    {
                        // Paced: record i is due i / rate seconds after the start; sleep only when more than a millisecond early.
                        var early = TimeSpan.FromSeconds(i / recordsPerSecond) - Stopwatch.GetElapsedTime(started);
                        if (early > TimeSpan.FromMilliseconds(1))
                        {
                            await DrainAsync(0);
                            await Task.Delay(early, cancellationToken);
                        }
                    }

                    pending.Enqueue((txId, writer.WriteAsync(new LogRecord(txId++, generated)).AsTask()));
                    await DrainAsync(64);
                }
            }
            else
            {
                while (await Console.In.ReadLineAsync(cancellationToken) is string line)
                {
                    pending.Enqueue((txId, writer.WriteAsync(new LogRecord(txId++, Encoding.UTF8.GetBytes(line))).AsTask()));
                    await DrainAsync(64);
                }
            }

            await DrainAsync(0);
            await writer.CloseAsync(cancellationToken);
            return 0;
        }));
        return command;
    }
}
