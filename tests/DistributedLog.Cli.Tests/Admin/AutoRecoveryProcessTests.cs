using System.Text;
using System.Text.Json;
using DistributedLog.Bookie.Registration;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;
using Xunit.Abstractions;

namespace DistributedLog.Cli.Tests.Admin;

/// <summary>
/// Auto-recovery as operators run it, against real processes: a real etcd, <c>dlog bookie</c> processes that run the
/// auditor and replication workers, a log written through the core library while it rolls segments, and
/// <c>dlog admin audit | decommission</c> run as processes.
/// </summary>
public sealed class AutoRecoveryProcessTests(EtcdServer etcd, ITestOutputHelper output) : IClassFixture<EtcdServer>
{
    private static readonly string[] FastRecovery = ["--lost-bookie-delay-seconds", "2", "--open-ledger-grace-seconds", "2"];

    private static LogWriterOptions Rolling() => new() { MaxSegmentBytes = 4096, LockTimeout = TimeSpan.FromSeconds(30) };

    private static byte[] Record(long i) => Encoding.UTF8.GetBytes($"record-{i:D6}-{new string('x', 100)}");

    /// <summary>Writes records until stopped, reopening the writer after a failure (a fenced segment); returns the acknowledged ones.</summary>
    private static async Task<List<long>> WriteUntilAsync(LogManager log, Func<long, bool> stop, CancellationToken cancellationToken = default)
    {
        var acked = new List<long>();
        AsyncLogWriter? writer = null;
        try
        {
            for (long i = 0; !stop(i); i++)
            {
                writer ??= await log.OpenWriterAsync(Rolling(), cancellationToken);
                try
                {
                    await writer.WriteAsync(new LogRecord(i, Record(i)));
                    acked.Add(i);
                }
                catch (Protocol.Errors.DlException)
                {
                    await writer.DisposeAsync();
                    writer = null;
                }
            }

            if (writer is not null)
            {
                await writer.CloseAsync(cancellationToken);
            }
        }
        finally
        {
            if (writer is not null)
            {
                await writer.DisposeAsync();
            }
        }

        return acked;
    }

    private static async Task<List<long>> ReadAllAsync(ProcessCluster cluster, string name)
    {
        var (client, resources) = await cluster.NewClientAsync();
        await using (resources)
        {
            await using var ns = DistributedLogNamespace.Create(cluster.Store, client);
            var log = ns.OpenLog(name);
            var last = await log.GetLastDlsnAsync();
            var txids = new List<long>();
            await using var reader = await log.OpenReaderAsync(ReadPosition.Earliest);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (txids.Count == 0 || txids[^1] >= 0)
            {
                var record = await reader.ReadNextAsync(timeout.Token);
                Assert.Equal(Record(record.TxId), record.Payload.ToArray());
                txids.Add(record.TxId);
                if (record.Dlsn >= last)
                {
                    break;
                }
            }

            return txids;
        }
    }

    private static async Task<JsonElement> AuditAsync(ProcessCluster cluster)
    {
        var result = await Dlog.RunAsync(["admin", "audit", "--metadata", cluster.MetadataUri, "--json"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Stdout).RootElement.Clone();
    }

    [Fact]
    public async Task A_bookie_lost_for_good_is_healed_and_the_data_survives_losing_two_more_original_bookies()
    {
        await using var cluster = await ProcessCluster.StartAsync(6, etcd, bookieArgs: _ => FastRecovery);
        await using var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client);
        await ns.CreateLogAsync("healed");
        var log = ns.OpenLog("healed");

        // Write while segments roll; SIGKILL a bookie of the current segment midway, for good.
        string? victim = null;
        var acked = await WriteUntilAsync(log, i =>
        {
            if (i == 300)
            {
                var segments = log.GetSegmentsAsync().GetAwaiter().GetResult();
                var ensemble = cluster.Client.MetadataStore.ReadAsync(segments[^1].LedgerId, default).GetAwaiter().GetResult()!.Value.CurrentEnsemble;
                victim = ensemble[0];
                cluster.Bookie(victim).KillAsync().GetAwaiter().GetResult();
            }

            return i >= 600;
        });
        Assert.NotNull(victim);
        var original = new HashSet<string>();
        foreach (var segment in await log.GetSegmentsAsync())
        {
            original.UnionWith((await cluster.LedgerStore.ReadAsync(segment.LedgerId, default))!.Value.Ensembles.SelectMany(s => s.Bookies));
        }

        // The bookies' own auditor and workers heal it, within the delay plus a bounded copy time (no admin command helps).
        var healing = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            bool stillOnVictim = false;
            foreach (var segment in await log.GetSegmentsAsync())
            {
                stillOnVictim |= (await cluster.LedgerStore.ReadAsync(segment.LedgerId, default))!.Value.Ensembles.Any(s => s.Bookies.Contains(victim!));
            }

            if (!stillOnVictim && (await cluster.Store.ListAsync("underreplication/ledgers/")).Count == 0)
            {
                break;
            }

            Assert.True(healing.Elapsed < TimeSpan.FromSeconds(90), "not healed within 90 s of the last write");
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        output.WriteLine($"healed {healing.Elapsed.TotalSeconds:F1} s after the last write");

        // ... as `dlog admin audit` confirms.
        var audit = await AuditAsync(cluster);
        output.WriteLine(audit.GetRawText());
        Assert.Equal(0, audit.GetProperty("underReplicated").GetInt64());
        Assert.Equal(1, audit.GetProperty("lostBookies").GetInt32());
        Assert.Equal(victim, audit.GetProperty("lostBookieIds")[0].GetString());
        Assert.True(audit.GetProperty("ledgers").GetInt64() >= 2);

        // Two more of the bookies that originally held the data go too: every acknowledged record is still readable.
        var more = original.Where(b => b != victim).Take(2).ToList();
        Assert.Equal(2, more.Count);
        foreach (string bookie in more)
        {
            await cluster.Bookie(bookie).KillAsync();
        }

        var read = await ReadAllAsync(cluster, "healed");
        Assert.Equal(read.Distinct().Count(), read.Count);
        Assert.Empty(acked.Except(read));
    }

    [Fact]
    public async Task Decommissioning_a_live_bookie_under_load_loses_nothing_and_removes_it()
    {
        await using var cluster = await ProcessCluster.StartAsync(5, etcd, bookieArgs: _ => ["--no-autorecovery"]);
        await using var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client);
        await ns.CreateLogAsync("retired");
        var log = ns.OpenLog("retired");
        var first = await WriteUntilAsync(log, i => i >= 200);
        string retired = (await cluster.LedgerStore.ReadAsync((await log.GetSegmentsAsync())[0].LedgerId, default))!.Value.CurrentEnsemble[1];

        // Keep writing while the bookie is decommissioned.
        using var stop = new CancellationTokenSource();
        var writing = Task.Run(() => WriteUntilAsync(log, i => i < 200 || stop.IsCancellationRequested));
        var result = await Dlog.RunAsync(["admin", "decommission", retired, "--metadata", cluster.MetadataUri, "--open-ledger-grace-seconds", "1", "--json"],
            new DlogRunOptions { Timeout = TimeSpan.FromSeconds(120) });
        output.WriteLine(result.ToString());
        await stop.CancelAsync();
        var during = await writing;
        Assert.True(result.ExitCode == 0, result.ToString());
        var done = JsonDocument.Parse(result.Stdout).RootElement;
        Assert.Equal(retired, done.GetProperty("bookie").GetString());
        Assert.True(done.GetProperty("ledgers").GetInt64() >= 1);
        Assert.True(done.GetProperty("entries").GetInt64() >= 1);

        // The retired bookie holds nothing the cluster needs, is no longer registered nor known, and is never chosen again.
        Assert.Null(await cluster.Store.GetAsync(BookieKeys.Cookie(retired)));
        Assert.Null(await cluster.Store.GetAsync(BookieKeys.Available(retired)));
        await cluster.Bookie(retired).KillAsync();
        foreach (var segment in await log.GetSegmentsAsync())
        {
            Assert.DoesNotContain((await cluster.LedgerStore.ReadAsync(segment.LedgerId, default))!.Value.Ensembles, s => s.Bookies.Contains(retired));
        }

        var read = await ReadAllAsync(cluster, "retired");
        Assert.Equal(read.Distinct().Count(), read.Count);
        Assert.Empty(first.Concat(during).Except(read));
    }

    [Fact]
    public async Task Admin_recover_moves_a_dead_bookies_copies_at_once_and_forgets_it()
    {
        // No auto-recovery in the bookies: only the command repairs.
        await using var cluster = await ProcessCluster.StartAsync(5, etcd, bookieArgs: _ => ["--no-autorecovery"]);
        await using var ns = DistributedLogNamespace.Create(cluster.Store, cluster.Client);
        await ns.CreateLogAsync("recovered");
        var log = ns.OpenLog("recovered");
        var acked = await WriteUntilAsync(log, i => i >= 300);
        var first = (await cluster.LedgerStore.ReadAsync((await log.GetSegmentsAsync())[0].LedgerId, default))!.Value.CurrentEnsemble;
        string dead = first[0];

        // A live bookie is refused (decommission is for those).
        var alive = await Dlog.RunAsync(["admin", "recover", dead, "--metadata", cluster.MetadataUri]);
        CliAssert.UserError(alive, dead, "is registered (alive)");

        await cluster.Bookie(dead).KillAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await cluster.Store.GetAsync(BookieKeys.Available(dead)) is not null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the dead bookie's registration did not expire");
            await Task.Delay(250);
        }

        var result = await Dlog.RunAsync(["admin", "recover", dead, "--metadata", cluster.MetadataUri, "--json"]);
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        var done = JsonDocument.Parse(result.Stdout).RootElement;
        Assert.Equal("recover", done.GetProperty("action").GetString());
        Assert.True(done.GetProperty("ledgers").GetInt64() >= 1);
        Assert.Null(await cluster.Store.GetAsync(BookieKeys.Cookie(dead)));
        foreach (var segment in await log.GetSegmentsAsync())
        {
            Assert.DoesNotContain((await cluster.LedgerStore.ReadAsync(segment.LedgerId, default))!.Value.Ensembles, s => s.Bookies.Contains(dead));
        }

        // Forgotten: the audit no longer counts it lost; the other two original replicas can go too.
        var audit = await AuditAsync(cluster);
        Assert.Equal(0, audit.GetProperty("underReplicated").GetInt64());
        Assert.Equal(0, audit.GetProperty("lostBookies").GetInt32());
        await cluster.Bookie(first[1]).KillAsync();
        await cluster.Bookie(first[2]).KillAsync();
        var read = await ReadAllAsync(cluster, "recovered");
        Assert.Empty(acked.Except(read));
    }

    [Fact]
    public async Task Admin_recovery_commands_refuse_bad_input_with_one_line()
    {
        var noMetadata = await Dlog.RunAsync(["admin", "audit"], new DlogRunOptions { Environment = new Dictionary<string, string?> { ["DLOG_METADATA"] = null } });
        Assert.Equal(1, noMetadata.ExitCode);
        Assert.Contains("No metadata store", noMetadata.Stderr);

        string uri = etcd.NewStoreUri();
        var notABookie = await Dlog.RunAsync(["admin", "recover", "nonsense", "--metadata", uri]);
        Assert.Equal(1, notABookie.ExitCode);
        Assert.Contains("'nonsense' is not a bookie id", notABookie.Stderr);

        var unknown = await Dlog.RunAsync(["admin", "decommission", "127.0.0.1:1", "--metadata", uri]);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("Bookie 127.0.0.1:1 is not known to this cluster", unknown.Stderr);
        Assert.Single(unknown.ErrorLines);

        var empty = JsonDocument.Parse((await Dlog.RunAsync(["admin", "audit", "--metadata", uri, "--json"])).Stdout).RootElement;
        Assert.Equal(0, empty.GetProperty("ledgers").GetInt64());
        Assert.Equal(0, empty.GetProperty("underReplicated").GetInt64());
        Assert.Equal(0, empty.GetProperty("lostBookies").GetInt32());
    }
}
