using System.CommandLine;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Bookie.Wire;
using DistributedLog.Cli.Commands;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Bench;

/// <summary><c>dlog bench …</c>: end-to-end load generators.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure throughput and latency end to end.");
        bench.Subcommands.Add(CreateBookieBench());
        bench.Subcommands.Add(CreateLedgerBench());
        bench.Subcommands.Add(CreateLogBench());
        return bench;
    }

    private static (Option<int> Outstanding, Option<int> Size, Option<double> Seconds, Option<bool> Json) CommonOptions() => (
        new Option<int>("--outstanding") { Description = "Operations in flight at once.", DefaultValueFactory = _ => 1 },
        new Option<int>("--size") { Description = "Payload bytes per entry.", DefaultValueFactory = _ => 100 },
        new Option<double>("--seconds") { Description = "How long to measure (after a 2 s warm-up).", DefaultValueFactory = _ => 10 },
        new Option<bool>("--json") { Description = "Print one JSON object with the results." });

    private static (int Outstanding, int Size, TimeSpan Duration) Validate(int outstanding, int size, double seconds)
    {
        if (outstanding < 1 || size < 0 || size > PackagedEntry.MaxPayloadSize || seconds <= 0)
        {
            throw new ArgumentException($"--outstanding must be ≥ 1, --size within 0..{PackagedEntry.MaxPayloadSize}, --seconds > 0.");
        }

        return (outstanding, size, TimeSpan.FromSeconds(seconds));
    }

    private static Command CreateBookieBench()
    {
        var bookie = new Option<string?>("--bookie") { Description = "Bookie to load (host:port). Without it, an in-process bookie is started on --data." };
        var data = new Option<DirectoryInfo?>("--data") { Description = "Data directory for the in-process bookie (default: a temporary directory, removed after)." };
        var pingOption = new Option<bool>("--ping") { Description = "Send pings instead of adds (measures the round trip: network plus request handling)." };
        var (outstanding, size, seconds, json) = CommonOptions();
        var command = new Command("bookie", "Add entries to one bookie with a fixed number in flight; report adds/s and latency percentiles.")
        {
            bookie, data, pingOption, outstanding, size, seconds, json,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            var (inflight, payloadSize, duration) = Validate(result.GetValue(outstanding), result.GetValue(size), result.GetValue(seconds));
            string? target = result.GetValue(bookie);
            string? temp = null;
            BookieHost? host = null;
            if (target is null)
            {
                string dir = result.GetValue(data)?.FullName ?? (temp = Path.Combine(Path.GetTempPath(), "dlog-bench-" + Guid.NewGuid().ToString("N")));
                host = await BookieHost.StartAsync(new BookieHostOptions { DataDirectory = dir, Port = 0, MinFreeDiskBytes = 0 }, cancellationToken: cancellationToken);
                target = host.BookieId;
            }

            try
            {
                await using var client = new BookieClient();
                var ping = await client.PingAsync(target, cancellationToken);
                if (ping.Status != StatusCode.Success)
                {
                    throw new DlException(ping.Status, $"Bookie {target} does not answer ({ping.Status}).");
                }

                long ledgerId = Random.Shared.NextInt64(1, long.MaxValue / 2);
                byte[] key = new byte[20];
                Random.Shared.NextBytes(key);
                byte[] payload = new byte[payloadSize];
                Random.Shared.NextBytes(payload);
                var buffers = Enumerable.Range(0, inflight).Select(_ => new byte[PackagedEntry.SizeOf(payloadSize)]).ToArray();
                long nextEntry = -1;
                bool pingOnly = result.GetValue(pingOption);
                var report = await LoadRunner.RunAsync($"bookie {target}{(pingOnly ? " (ping)" : "")}", inflight, pingOnly ? 0 : payloadSize, duration, async worker =>
                {
                    if (pingOnly)
                    {
                        return (await client.PingAsync(target, cancellationToken)).Status == StatusCode.Success;
                    }

                    long entryId = Interlocked.Increment(ref nextEntry);
                    PackagedEntry.Write(buffers[worker], ledgerId, entryId, entryId - inflight - 1, 0, payload);
                    var added = await client.AddEntryAsync(target, key, buffers[worker], cancellationToken: cancellationToken);
                    return added.Status == StatusCode.Success;
                }, cancellationToken);
                LoadRunner.Print(report, result.GetValue(json), host is null ? "" : " (bookie in this process too)");
                return report.Errors == 0 ? 0 : 1;
            }
            finally
            {
                if (host is not null)
                {
                    await host.DisposeAsync();
                }

                if (temp is not null)
                {
                    Directory.Delete(temp, recursive: true);
                }
            }
        }));
        return command;
    }

    private static Command CreateLedgerBench()
    {
        var metadata = new Option<string>("--metadata") { Description = "Metadata store the bookies registered in (etcd://host:port/root).", Required = true };
        var ensemble = new Option<int>("--ensemble") { Description = "Ensemble size E.", DefaultValueFactory = _ => 3 };
        var writeQuorum = new Option<int>("--write-quorum") { Description = "Write quorum Qw.", DefaultValueFactory = _ => 3 };
        var ackQuorum = new Option<int>("--ack-quorum") { Description = "Ack quorum Qa.", DefaultValueFactory = _ => 2 };
        var (outstanding, size, seconds, json) = CommonOptions();
        var command = new Command("ledger", "Add entries to a new replicated ledger with a fixed number in flight; report adds/s and latency percentiles.")
        {
            metadata, ensemble, writeQuorum, ackQuorum, outstanding, size, seconds, json,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            var (inflight, payloadSize, duration) = Validate(result.GetValue(outstanding), result.GetValue(size), result.GetValue(seconds));
            await using var store = await MetadataStores.OpenAsync(result.GetValue(metadata)!, cancellationToken: cancellationToken);
            await using var registry = await MetadataBookieRegistry.StartAsync(store, cancellationToken: cancellationToken);
            int e = result.GetValue(ensemble);
            await registry.WaitForBookiesAsync(e, TimeSpan.FromSeconds(10), cancellationToken);
            await using var client = new LedgerClient(new MetadataLedgerStore(store), registry);
            var writer = await client.CreateLedgerAsync(e, result.GetValue(writeQuorum), result.GetValue(ackQuorum), cancellationToken: cancellationToken);
            byte[] payload = new byte[payloadSize];
            Random.Shared.NextBytes(payload);
            var report = await LoadRunner.RunAsync($"ledger {writer.LedgerId} on [{string.Join(", ", writer.Metadata.CurrentEnsemble)}]", inflight, payloadSize, duration,
                async _ =>
                {
                    try
                    {
                        await writer.AddEntryAsync(payload);
                        return true;
                    }
                    catch (DlException)
                    {
                        return false;
                    }
                }, cancellationToken);
            await writer.CloseAsync(cancellationToken);
            await client.DeleteLedgerAsync(writer.LedgerId, cancellationToken);
            LoadRunner.Print(report, result.GetValue(json));
            return report.Errors == 0 ? 0 : 1;
        }));
        return command;
    }

    private static Command CreateLogBench()
    {
        var metadata = new Option<string>("--metadata") { Description = "Metadata store the bookies registered in (etcd://host:port/root).", Required = true };
        var logs = new Option<int>("--logs") { Description = "Logs written at once (records spread round-robin).", DefaultValueFactory = _ => 1 };
        var immediate = new Option<bool>("--immediate-flush") { Description = "Send every record at once instead of batching for up to 1 ms." };
        var commitOnIdle = new Option<bool>("--commit-on-idle")
        {
            Description = "Write a control record as soon as everything is acknowledged (false: after the commit delay).",
            DefaultValueFactory = _ => new DistributedLog.Writers.LogWriterOptions().CommitOnIdle,
        };
        var eager = new Option<int>("--eager-flush-below")
        {
            Description = "Send at once while fewer entries than this are in flight (0: batch by size and interval only).",
            DefaultValueFactory = _ => new DistributedLog.Writers.LogWriterOptions().EagerFlushBelow,
        };
        var tail = new Option<bool>("--tail")
        {
            Description = "Tailing-reader latency: one writer writes records at --rate, a reader opened at the end of the log reads them; " +
                "report write-to-read latency (send timestamp in the payload).",
        };
        var rate = new Option<double>("--rate") { Description = "Records per second written with --tail.", DefaultValueFactory = _ => 10_000 };
        var (outstanding, size, seconds, json) = CommonOptions();
        var command = new Command("log", "Write records through log writers (batching into entries) with a fixed number in flight; report records/s and latency.")
        {
            metadata, logs, immediate, eager, commitOnIdle, tail, rate, outstanding, size, seconds, json,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            var (inflight, payloadSize, duration) = Validate(result.GetValue(outstanding), result.GetValue(size), result.GetValue(seconds));
            if (result.GetValue(tail))
            {
                var tailOptions = new DistributedLog.Writers.LogWriterOptions
                {
                    ImmediateFlush = result.GetValue(immediate),
                    EagerFlushBelow = result.GetValue(eager),
                    CommitOnIdle = result.GetValue(commitOnIdle),
                };
                var (tailReport, ackLatency) = await LogTailBench.RunAsync(result.GetValue(metadata)!, tailOptions, result.GetValue(rate), payloadSize, duration, cancellationToken);
                LoadRunner.Print(tailReport, result.GetValue(json), ackLatency);
                return tailReport.Errors == 0 ? 0 : 1;
            }

            int logCount = result.GetValue(logs);
            if (logCount < 1)
            {
                throw new ArgumentException("--logs must be at least 1.");
            }

            await using var ns = await DistributedLog.Namespaces.DistributedLogNamespace.OpenAsync(result.GetValue(metadata)!, "bench",
                cancellationToken: cancellationToken);
            string run = Guid.NewGuid().ToString("N")[..8];
            var writers = new DistributedLog.Writers.AsyncLogWriter[logCount];
            var options = new DistributedLog.Writers.LogWriterOptions
                {
                    ImmediateFlush = result.GetValue(immediate),
                    EagerFlushBelow = result.GetValue(eager),
                    CommitOnIdle = result.GetValue(commitOnIdle),
                };
            for (int i = 0; i < logCount; i++)
            {
                string name = $"bench-{run}/{i}";
                await ns.CreateLogAsync(name, cancellationToken);
                writers[i] = await ns.OpenLog(name).OpenWriterAsync(options, cancellationToken);
            }

            byte[] payload = new byte[payloadSize];
            Random.Shared.NextBytes(payload);
            long txId = 0;
            // One record per log first, so every log has its segment open: the run measures steady writing, not segment starts.
            await Task.WhenAll(writers.Select(w => w.WriteAsync(new Protocol.Records.LogRecord(Interlocked.Increment(ref txId), payload)).AsTask()));
            var report = await LoadRunner.RunAsync($"{logCount} log(s) in namespace bench", inflight, payloadSize, duration, async worker =>
            {
                long id = Interlocked.Increment(ref txId);
                try
                {
                    await writers[(int)(id % logCount)].WriteAsync(new Protocol.Records.LogRecord(id, payload));
                    return true;
                }
                catch (DlException)
                {
                    return false;
                }
            }, cancellationToken);
            foreach (var writer in writers)
            {
                await writer.CloseAsync(cancellationToken);
            }

            for (int i = 0; i < logCount; i++)
            {
                await ns.DeleteLogAsync($"bench-{run}/{i}", cancellationToken);
            }

            LoadRunner.Print(report, result.GetValue(json));
            return report.Errors == 0 ? 0 : 1;
        }));
        return command;
    }
}
