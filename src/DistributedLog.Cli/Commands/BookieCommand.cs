using System.CommandLine;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Replication;
using DistributedLog.Ledgers.Placement;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Commands;

/// <summary><c>dlog bookie</c>: runs one storage node in the foreground until SIGINT/SIGTERM.</summary>
internal static class BookieCommand
{
    public static Command Create()
    {
        var data = new Option<DirectoryInfo>("--data") { Description = "Data directory (journal/ and ledgers/ go under it).", Required = true };
        var port = new Option<int>("--port") { Description = "TCP port to listen on (0 picks a free one).", DefaultValueFactory = _ => 3181 };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var journal = new Option<DirectoryInfo?>("--journal-dir") { Description = "Journal directory (default <data>/journal); use its own disk in production." };
        var ledgers = new Option<DirectoryInfo?>("--ledger-dir") { Description = "Ledger storage directory (default <data>/ledgers)." };
        var writeCache = new Option<int>("--write-cache-mb") { Description = "Write cache size in MiB.", DefaultValueFactory = _ => 64 };
        var journalFile = new Option<int>("--journal-file-mb") { Description = "Size of each preallocated journal file in MiB.", DefaultValueFactory = _ => 64 };
        var entryLog = new Option<int>("--entry-log-mb") { Description = "Size limit of each entry log file in MiB.", DefaultValueFactory = _ => 256 };
        var flush = new Option<double>("--flush-interval-seconds") { Description = "Checkpoint interval in seconds.", DefaultValueFactory = _ => 10 };
        var minFree = new Option<long>("--min-free-mb") { Description = "Turn read-only below this much free disk (MiB).", DefaultValueFactory = _ => 256 };
        var noSync = new Option<bool>("--no-journal-sync") { Description = "Acknowledge before fdatasync (UNSAFE; benchmarks only)." };
        var metadata = new Option<string?>("--metadata") { Description = "Metadata store to register in: etcd://host:port[/root] or file:///path/meta.db." };
        var rack = new Option<string>("--rack")
        {
            Description = "Network location of this bookie, /REGION/RACK; placement spreads each write set over racks and regions.",
            DefaultValueFactory = _ => NetworkLocation.DefaultPath,
        };
        var gcInterval = new Option<double>("--gc-interval-seconds")
        {
            Description = "Interval of storage garbage collection (entry logs of deleted ledgers removed or compacted), in seconds.",
            DefaultValueFactory = _ => 60,
        };
        var gcScan = new Option<double>("--gc-scan-interval-seconds")
        {
            Description = "Interval of the scan that deletes local ledgers whose metadata is gone (missed deletes), in seconds; 0 turns it off. Needs --metadata.",
            DefaultValueFactory = _ => 600,
        };
        var gcDelay = new Option<double>("--gc-orphan-delay-seconds")
        {
            Description = "How long a local ledger must stay without metadata before that scan deletes it, in seconds.",
            DefaultValueFactory = _ => 3600,
        };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level.", DefaultValueFactory = _ => LogLevel.Information };
        var json = ClientOptions.Json();
        var noAutoRecovery = new Option<bool>("--no-autorecovery") { Description = "Do not run auto-recovery (the auditor candidate and a replication worker) in this bookie." };
        var lostDelay = new Option<int>("--lost-bookie-delay-seconds")
        {
            Description = "How long a bookie must be gone before the auditor marks its ledgers under-replicated (0 = at once).",
            DefaultValueFactory = _ => 30,
        };
        var auditInterval = new Option<double>("--audit-interval-hours")
        {
            Description = "How often the auditor reads every closed ledger's fragments to find missing or corrupt copies (0 = never).",
            DefaultValueFactory = _ => 24,
        };
        var grace = new Option<int>("--open-ledger-grace-seconds")
        {
            Description = "How long a writer may keep a lost bookie in its open ledger before a replication worker fences the ledger.",
            DefaultValueFactory = _ => 30,
        };

        // Hidden, for `dlog chaos` only: while this file exists, the bookie's file writes and syncs fail with EIO.
        var faultFile = new Option<FileInfo?>("--fault-file") { Hidden = true };

        var command = new Command("bookie", "Run a bookie (storage node) until interrupted.")
        {
            data, port, host, journal, ledgers, writeCache, journalFile, entryLog, flush, minFree, noSync, metadata, rack, logLevel, json, faultFile,
            noAutoRecovery, lostDelay, auditInterval, grace, gcInterval, gcScan, gcDelay,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(async () =>
        {
            using var loggerFactory = ServerRun.Logging(result.GetValue(logLevel));
            double flushSeconds = result.GetValue(flush);
            if (flushSeconds <= 0)
            {
                throw new ArgumentException($"--flush-interval-seconds must be positive (got {flushSeconds}).");
            }

            if (result.GetValue(writeCache) < 2)
            {
                throw new ArgumentException($"--write-cache-mb must be at least 2 (got {result.GetValue(writeCache)}).");
            }

            if (result.GetValue(lostDelay) < 0 || result.GetValue(grace) < 0 || result.GetValue(auditInterval) < 0)
            {
                throw new ArgumentException(
                    $"--lost-bookie-delay-seconds, --open-ledger-grace-seconds and --audit-interval-hours must not be negative (got {result.GetValue(lostDelay)}, {result.GetValue(grace)}, {result.GetValue(auditInterval)}).");
            }

            string location = NetworkLocation.Parse(result.GetValue(rack)!).Path;
            double gcSeconds = result.GetValue(gcInterval);
            if (!(gcSeconds > 0) || !double.IsFinite(gcSeconds))
            {
                throw new ArgumentException($"--gc-interval-seconds must be a positive number of seconds (got {gcSeconds}).");
            }

            double scanSeconds = result.GetValue(gcScan);
            if (!(scanSeconds >= 0) || !double.IsFinite(scanSeconds))
            {
                throw new ArgumentException($"--gc-scan-interval-seconds must be 0 (off) or a positive number of seconds (got {scanSeconds}).");
            }

            double delaySeconds = result.GetValue(gcDelay);
            if (!(delaySeconds >= 0) || !double.IsFinite(delaySeconds))
            {
                throw new ArgumentException($"--gc-orphan-delay-seconds must be 0 or a positive number of seconds (got {delaySeconds}).");
            }

            var options = new BookieHostOptions
            {
                DataDirectory = result.GetValue(data)!.FullName,
                JournalDirectory = result.GetValue(journal)?.FullName,
                LedgerDirectory = result.GetValue(ledgers)?.FullName,
                Host = result.GetValue(host)!,
                Port = result.GetValue(port),
                WriteCacheSize = (long)result.GetValue(writeCache) << 20,
                JournalFileSize = (long)result.GetValue(journalFile) << 20,
                EntryLogSizeLimit = (long)result.GetValue(entryLog) << 20,
                FlushInterval = TimeSpan.FromSeconds(flushSeconds),
                GcInterval = TimeSpan.FromSeconds(gcSeconds),
                GcScanInterval = TimeSpan.FromSeconds(scanSeconds),
                GcOrphanDelay = TimeSpan.FromSeconds(delaySeconds),
                MinFreeDiskBytes = result.GetValue(minFree) << 20,
                JournalSyncData = !result.GetValue(noSync),
                MetadataUri = result.GetValue(metadata),
                Rack = location,
                Faults = result.GetValue(faultFile) is { } fault
                    ? new Chaos.Cluster.FaultFileInjector(fault.FullName)
                    : DistributedLog.Bookie.IO.NoFaults.Instance,
            };

            // The guarded stop signal: a SIGTERM that arrives while (or after) the bookie stops must not throw from the handler.
            var (stop, sigterm) = ServerRun.StopSignal(cancellationToken);
            using (stop)
            using (sigterm)
            try
            {
                await using var bookie = await BookieHost.StartAsync(options, loggerFactory, cancellationToken: stop.Token);
                await using var autoRecovery = bookie.MetadataStore is { } store && !result.GetValue(noAutoRecovery)
                    ? await AutoRecovery.StartAsync(store, new AutoRecoveryOptions
                    {
                        Identity = bookie.BookieId,
                        LostBookieDelay = TimeSpan.FromSeconds(result.GetValue(lostDelay)),
                        OpenLedgerGracePeriod = TimeSpan.FromSeconds(result.GetValue(grace)),
                        CheckInterval = TimeSpan.FromHours(result.GetValue(auditInterval)),
                    }, new LedgerClientOptions { LoggerFactory = loggerFactory }, loggerFactory, cancellationToken: stop.Token)
                    : null;
                ServerRun.PrintReady(result.GetValue(json), $"bookie {bookie.BookieId} ready (data {options.DataDirectory}, rack {options.Rack})", w =>
                {
                    w.WriteString("bookie", bookie.BookieId);
                    w.WriteString("data", options.DataDirectory);
                    w.WriteString("rack", options.Rack);
                });
                await ServerRun.WaitAsync(stop.Token);
                Console.WriteLine($"bookie {bookie.BookieId} stopping");
            }

            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Told to stop while starting (e.g. still waiting for the metadata store): a clean stop.
                Console.WriteLine("bookie stopped while starting");
            }

            return 0;
        }));
        return command;
    }
}
