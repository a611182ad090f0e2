using System.Text;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Hosting;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;
using DistributedLog.Writers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DistributedLog.Tests.Hosting;

/// <summary><c>AddDistributedLog</c>: options, validation, configuration binding and the lazily opened namespace.</summary>
public sealed class DistributedLogHostingTests : IDisposable
{
    private readonly string _dir = TestEntries.TempDirectory("hosting");

    private string MetadataUri => new Uri(Path.Combine(_dir, "meta.db")).AbsoluteUri;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task The_provider_opens_the_namespace_once_and_the_container_closes_it()
    {
        var services = new ServiceCollection();
        services.AddDistributedLog(o =>
        {
            o.MetadataUri = MetadataUri;
            o.Namespace = "hosting";
        });

        IDistributedLogNamespaceProvider provider;
        await using (var container = services.BuildServiceProvider())
        {
            provider = container.GetRequiredService<IDistributedLogNamespaceProvider>();
            Assert.Same(provider, container.GetRequiredService<IDistributedLogNamespaceProvider>());

            var first = provider.GetNamespaceAsync();
            var second = provider.GetNamespaceAsync();
            var ns = await first;
            Assert.Same(ns, await second);
            Assert.Equal("hosting", ns.Name);

            await ns.CreateLogAsync("events/orders");
            await ns.CreateLogAsync("events/payments");
            await ns.CreateLogAsync("audit");
            Assert.Equal(new[] { "events/orders", "events/payments" }, await ns.ListLogsAsync("events/"));
            Assert.True(await ns.LogExistsAsync("audit"));
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(() => provider.GetNamespaceAsync());

        // The store was closed with the container: the same URI opens again and sees the logs.
        await using var again = new DistributedLogNamespaceProvider(new DistributedLogOptions { MetadataUri = MetadataUri, Namespace = "hosting" });
        Assert.Equal(3, (await (await again.GetNamespaceAsync()).ListLogsAsync()).Count);
    }

    [Fact]
    public async Task A_synchronously_disposed_container_disposes_the_provider()
    {
        var services = new ServiceCollection().AddDistributedLog(o => o.MetadataUri = MetadataUri);
        IDistributedLogNamespaceProvider provider;
        using (var container = services.BuildServiceProvider())
        {
            provider = container.GetRequiredService<IDistributedLogNamespaceProvider>();
            Assert.Equal("default", (await provider.GetNamespaceAsync()).Name);
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(() => provider.GetNamespaceAsync());
    }

    [Fact]
    public async Task A_failed_open_is_not_cached()
    {
        string blocker = Path.Combine(_dir, "not-a-directory");
        Directory.CreateDirectory(_dir);
        await File.WriteAllTextAsync(blocker, "x");
        await using var provider = new DistributedLogNamespaceProvider(new DistributedLogOptions
        {
            MetadataUri = new Uri(Path.Combine(blocker, "meta.db")).AbsoluteUri,
        });

        var failure = await Record.ExceptionAsync(() => provider.GetNamespaceAsync());
        Assert.NotNull(failure);

        // Disposing after a failed open has nothing to close and does not throw.
        var failed = new DistributedLogNamespaceProvider(provider.Options);
        Assert.NotNull(await Record.ExceptionAsync(() => failed.GetNamespaceAsync()));
        await failed.DisposeAsync();

        File.Delete(blocker);
        var ns = await provider.GetNamespaceAsync();
        Assert.Equal("default", ns.Name);
    }

    [Theory]
    [InlineData(null, 3, 3, 2, "MetadataUri is required")]
    [InlineData("", 3, 3, 2, "MetadataUri is required")]
    [InlineData("http://localhost:2379/dl", 3, 3, 2, "is not a metadata URI")]
    [InlineData("not a uri", 3, 3, 2, "is not a metadata URI")]
    [InlineData("etcd://127.0.0.1:2379/dl", 2, 3, 2, "EnsembleSize >= WriteQuorumSize >= AckQuorumSize >= 1")]
    [InlineData("etcd://127.0.0.1:2379/dl", 3, 2, 3, "got E=3, Qw=2, Qa=3")]
    [InlineData("etcd://127.0.0.1:2379/dl", 3, 3, 0, "AckQuorumSize >= 1")]
    public void Invalid_options_fail_when_the_provider_is_resolved(string? uri, int ensemble, int writeQuorum, int ackQuorum, string expected)
    {
        using var container = new ServiceCollection()
            .AddDistributedLog(o =>
            {
                o.MetadataUri = uri;
                o.EnsembleSize = ensemble;
                o.WriteQuorumSize = writeQuorum;
                o.AckQuorumSize = ackQuorum;
            })
            .BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => container.GetRequiredService<IDistributedLogNamespaceProvider>());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var options = new DistributedLogOptions
        {
            MetadataUri = "file:///tmp/meta.db",
            Namespace = "a/b",
            OutputBufferSize = 0,
            FlushInterval = TimeSpan.Zero,
            Retention = TimeSpan.FromSeconds(-1),
            LockTimeout = TimeSpan.FromSeconds(-1),
            Compression = (CompressionCodec)7,
        };

        var errors = options.GetValidationErrors();
        Assert.Equal(6, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Namespace 'a/b'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("OutputBufferSize must be positive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("FlushInterval must be positive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Retention must be positive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("LockTimeout must not be negative", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Compression '7'", StringComparison.Ordinal));

        var thrown = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("OutputBufferSize", thrown.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DistributedLogNamespaceProvider(options));
    }

    [Fact]
    public void Defaults_are_valid_apart_from_the_metadata_uri_and_match_the_component_defaults()
    {
        var options = new DistributedLogOptions();
        Assert.Single(options.GetValidationErrors());
        options.MetadataUri = "etcd://127.0.0.1:2379/dl";
        Assert.Empty(options.GetValidationErrors());

        var writer = options.ToWriterOptions();
        var defaultWriter = new LogWriterOptions();
        Assert.Equal(defaultWriter.EnsembleSize, writer.EnsembleSize);
        Assert.Equal(defaultWriter.WriteQuorumSize, writer.WriteQuorumSize);
        Assert.Equal(defaultWriter.AckQuorumSize, writer.AckQuorumSize);
        Assert.Equal(defaultWriter.OutputBufferSize, writer.OutputBufferSize);
        Assert.Equal(defaultWriter.FlushInterval, writer.FlushInterval);
        Assert.Equal(defaultWriter.ImmediateFlush, writer.ImmediateFlush);
        Assert.Equal(defaultWriter.CommitDelay, writer.CommitDelay);
        Assert.Equal(defaultWriter.Compression, writer.Compression);
        Assert.Equal(defaultWriter.MaxSegmentBytes, writer.MaxSegmentBytes);
        Assert.Equal(defaultWriter.SegmentRollingInterval, writer.SegmentRollingInterval);
        Assert.Equal(defaultWriter.LockTimeout, writer.LockTimeout);
        Assert.Equal(defaultWriter.OwnershipTtl, writer.OwnershipTtl);

        Assert.Equal(new LogReaderOptions().ReadAheadEntries, options.ToReaderOptions().ReadAheadEntries);

        var ledgers = options.ToLedgerClientOptions();
        var defaultLedgers = new Ledgers.LedgerClientOptions();
        Assert.Equal(defaultLedgers.EnsembleSize, ledgers.EnsembleSize);
        Assert.Equal(defaultLedgers.WriteQuorumSize, ledgers.WriteQuorumSize);
        Assert.Equal(defaultLedgers.AckQuorumSize, ledgers.AckQuorumSize);
        Assert.Equal(defaultLedgers.BookieTimeout, ledgers.BookieTimeout);
        Assert.Equal(defaultLedgers.MinRacksPerWriteSet, ledgers.MinRacksPerWriteSet);
        Assert.Equal(defaultLedgers.Rack, ledgers.Rack);
    }

    [Fact]
    public void Options_bind_from_a_configuration_section()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["DistributedLog:MetadataUri"] = "etcd://10.0.0.1:2379,10.0.0.2:2379/prod",
                ["DistributedLog:Namespace"] = "orders",
                ["DistributedLog:EnsembleSize"] = "5",
                ["DistributedLog:WriteQuorumSize"] = "3",
                ["DistributedLog:AckQuorumSize"] = "2",
                ["DistributedLog:OutputBufferSize"] = "65536",
                ["DistributedLog:FlushInterval"] = "00:00:00.010",
                ["DistributedLog:ImmediateFlush"] = "true",
                ["DistributedLog:CommitDelay"] = "00:00:00.020",
                ["DistributedLog:Compression"] = "Lz4",
                ["DistributedLog:MaxSegmentBytes"] = "1048576",
                ["DistributedLog:SegmentRollingInterval"] = "01:00:00",
                ["DistributedLog:Retention"] = "7.00:00:00",
                ["DistributedLog:KeepAliveInterval"] = "00:00:04",
                ["DistributedLog:ReadAheadEntries"] = "16",
                ["DistributedLog:LockTimeout"] = "00:00:03",
                ["DistributedLog:OwnershipTtl"] = "00:00:30",
                ["DistributedLog:BookieTimeout"] = "00:00:02",
            })
            .Build();

        using var container = new ServiceCollection()
            .AddDistributedLog(configuration.GetSection(DistributedLogOptions.SectionName), o => o.ReadAheadEntries *= 2)
            .BuildServiceProvider();

        var provider = container.GetRequiredService<IDistributedLogNamespaceProvider>();
        var options = provider.Options;
        Assert.Equal("etcd://10.0.0.1:2379,10.0.0.2:2379/prod", options.MetadataUri);
        Assert.Equal("orders", options.Namespace);
        Assert.Equal(TimeSpan.FromDays(7), options.Retention);
        Assert.Equal(32, options.ReadAheadEntries);

        var writer = provider.WriterOptions;
        Assert.Equal((5, 3, 2), (writer.EnsembleSize, writer.WriteQuorumSize, writer.AckQuorumSize));
        Assert.Equal(65536, writer.OutputBufferSize);
        Assert.Equal(TimeSpan.FromMilliseconds(10), writer.FlushInterval);
        Assert.Equal(TimeSpan.FromSeconds(4), writer.KeepAliveInterval);
        Assert.True(writer.ImmediateFlush);
        Assert.Equal(TimeSpan.FromMilliseconds(20), writer.CommitDelay);
        Assert.Equal(CompressionCodec.Lz4, writer.Compression);
        Assert.Equal(1L << 20, writer.MaxSegmentBytes);
        Assert.Equal(TimeSpan.FromHours(1), writer.SegmentRollingInterval);
        Assert.Equal(TimeSpan.FromSeconds(3), writer.LockTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), writer.OwnershipTtl);
        Assert.Equal(32, provider.ReaderOptions.ReadAheadEntries);

        var ledgers = options.ToLedgerClientOptions();
        Assert.Equal((5, 3, 2), (ledgers.EnsembleSize, ledgers.WriteQuorumSize, ledgers.AckQuorumSize));
        Assert.Equal(TimeSpan.FromSeconds(2), ledgers.BookieTimeout);
    }

    [Fact]
    public async Task A_namespace_from_DI_writes_and_reads_through_registered_bookies()
    {
        await using var container = new ServiceCollection()
            .AddDistributedLog(o =>
            {
                o.MetadataUri = MetadataUri;
                o.Namespace = "hosting";
                o.Retention = TimeSpan.FromDays(1);
            })
            .BuildServiceProvider();

        var provider = container.GetRequiredService<IDistributedLogNamespaceProvider>();
        var ns = await provider.GetNamespaceAsync();

        // An embedded store is used by one process: the bookies run here and register in the namespace's own store.
        var bookies = new List<BookieHost>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                bookies.Add(await BookieHost.StartAsync(new BookieHostOptions
                {
                    DataDirectory = Path.Combine(_dir, $"bookie-{i}"),
                    Port = BookieProcess.FreePort(),
                    MinFreeDiskBytes = 0,
                    JournalFileSize = 8 << 20,
                    WriteCacheSize = 8 << 20,
                    MetadataStore = ns.Store,
                    RegistrationTtl = TimeSpan.FromSeconds(2),
                }));
            }

            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                while (ns.Ledgers.Registry.WritableBookies.Count < 3)
                {
                    await Task.Delay(50, deadline.Token);
                }
            }

            await ns.CreateLogAsync("di/log");
            var log = ns.OpenLog("di/log");
            await using (var writer = await log.OpenWriterAsync(provider.WriterOptions))
            {
                for (long txId = 1; txId <= 3; txId++)
                {
                    await writer.WriteAsync(new LogRecord(txId, Encoding.UTF8.GetBytes($"record {txId}")));
                }

                await writer.CloseAsync();
            }

            await using (var reader = await log.OpenReaderAsync(ReadPosition.Earliest, provider.ReaderOptions))
            {
                var payloads = new List<string>();
                for (int i = 0; i < 3; i++)
                {
                    var record = await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                    payloads.Add(Encoding.UTF8.GetString(record.Payload.Span));
                }

                Assert.Equal(new[] { "record 1", "record 2", "record 3" }, payloads);
            }

            // The only segment is younger than the retention period: nothing to purge.
            Assert.Equal(0, await provider.PurgeExpiredAsync("di/log"));
            Assert.Equal(3, await log.GetRecordCountAsync());
        }
        finally
        {
            foreach (var bookie in bookies)
            {
                await bookie.DisposeAsync();
            }
        }
    }
}
