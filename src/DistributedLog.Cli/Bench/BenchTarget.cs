using System.CommandLine;
using System.Runtime.CompilerServices;
using DistributedLog.Cli.Commands;
using DistributedLog.Cli.Sandbox;
using DistributedLog.Client;
using DistributedLog.Client.Writes;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Writers;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// What a <c>dlog bench write|tail|catchup|omb</c> run loads: a write proxy (<c>--endpoint</c>), the core library
/// against a metadata store (<c>--metadata</c>), or a sandbox started inside this process (<c>--in-process</c>).
/// </summary>
internal abstract class BenchTarget : IAsyncDisposable
{
    /// <summary>Where the run goes, for the report.</summary>
    public abstract string Description { get; }

    /// <summary>Creates a new log and opens a writer on it.</summary>
    public abstract Task<BenchLog> CreateLogAsync(string name, CancellationToken cancellationToken);

    /// <summary>Deletes a log the run created.</summary>
    public abstract Task DeleteLogAsync(string name, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}

/// <summary>One log of a run: writes (one record or several per call) and tailing reads.</summary>
internal abstract class BenchLog : IAsyncDisposable
{
    protected BenchLog(string name) => Name = name;

    public string Name { get; }

    /// <summary>Writes one record; completes when it is acknowledged.</summary>
    public abstract Task WriteAsync(ReadOnlyMemory<byte> payload);

    /// <summary>Writes several records in one call; returns how many failed.</summary>
    public abstract Task<int> WriteBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> payloads);

    /// <summary>Reads the log from <paramref name="from"/> on, tailing it, until cancelled.</summary>
    public abstract IAsyncEnumerable<LogRecordWithDlsn> ReadAsync(Dlsn from, CancellationToken cancellationToken);

    /// <summary>Writes one record and returns its DLSN (the position readers start from).</summary>
    public abstract Task<Dlsn> WriteFirstAsync(ReadOnlyMemory<byte> payload);

    public abstract ValueTask DisposeAsync();
}

/// <summary>The <c>--endpoint</c>, <c>--metadata</c> and <c>--in-process</c> options and the target they choose.</summary>
internal sealed class BenchTargetOptions
{
    public Option<string> Endpoint { get; } = ClientOptions.Endpoint();

    public Option<string?> Metadata { get; } = new("--metadata")
    {
        Description = "Write through the core library to the cluster of this metadata store (etcd://host:port/root or a sqlite file URI) instead of a proxy.",
    };

    public Option<bool> InProcess { get; } = new("--in-process")
    {
        Description = "Start a sandbox (embedded metadata, 3 bookies, a proxy) inside this process, in a temporary directory removed after, and write through its proxy.",
    };

    public IEnumerable<Option> All => [Endpoint, Metadata, InProcess];

    public void AddTo(Command command)
    {
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Opens the chosen target (validating that at most one of <c>--metadata</c>/<c>--in-process</c> is given).</summary>
    public async Task<BenchTarget> OpenAsync(ParseResult result, CancellationToken cancellationToken)
    {
        string? metadata = result.GetValue(Metadata);
        bool inProcess = result.GetValue(InProcess);
        bool endpointGiven = result.GetResult(Endpoint) is { Implicit: false };
        if (inProcess && metadata is not null)
        {
            throw new ArgumentException("--in-process and --metadata exclude each other: give one target.");
        }

        if (endpointGiven && (inProcess || metadata is not null))
        {
            throw new ArgumentException($"--endpoint and {(inProcess ? "--in-process" : "--metadata")} exclude each other: give one target.");
        }

        if (metadata is not null)
        {
            if (!Uri.TryCreate(metadata, UriKind.Absolute, out _))
            {
                throw new ArgumentException($"--metadata '{metadata}' is not a URI (for example etcd://127.0.0.1:2379/dlog).");
            }

            var ns = await DistributedLogNamespace.OpenAsync(metadata, "bench", cancellationToken: cancellationToken);
            return new CoreTarget(ns, metadata);
        }

        if (inProcess)
        {
            return await InProcessTarget.StartAsync(cancellationToken);
        }

        return new ProxyTarget(ClientOptions.Connect(result.GetValue(Endpoint)!), result.GetValue(Endpoint)!, null);
    }
}

/// <summary>Through a write proxy: one write stream per log (one record per write) or bulk calls (several per call).</summary>
internal class ProxyTarget(DistributedLogClient client, string endpoint, string? what) : BenchTarget
{
    public override string Description => what ?? $"proxy {endpoint}";

    public override async Task<BenchLog> CreateLogAsync(string name, CancellationToken cancellationToken)
    {
        await client.CreateLogAsync(name, cancellationToken);
        return new ProxyLog(client, name);
    }

    public override Task DeleteLogAsync(string name, CancellationToken cancellationToken) => client.DeleteLogAsync(name, cancellationToken);

    public override ValueTask DisposeAsync() => client.DisposeAsync();

    private sealed class ProxyLog(DistributedLogClient client, string name) : BenchLog(name)
    {
        private LogWriteStream? _stream;

        public override Task WriteAsync(ReadOnlyMemory<byte> payload)
        {
            var stream = _stream ??= client.OpenWriteStream(Name, new LogWriteStreamOptions { MaxInFlight = 64 * 1024 });
            return stream.WriteAsync(payload);
        }

        public override async Task<int> WriteBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
        {
            // A batch is one record set (DL's writeRecordSet) on the log's write stream: one unit end to end, passed
            // through by the proxy, each record acknowledged with its own DLSN.
            var stream = _stream ??= client.OpenWriteStream(Name, new LogWriteStreamOptions { MaxInFlight = 64 * 1024 });
            Task<LogRecordSetWriteResult> writing;
            using (var set = new LogRecordSetBuilder())
            {
                foreach (var payload in payloads)
                {
                    set.Add(payload.Span);
                }

                writing = stream.WriteRecordSetAsync(set); // the set is copied before this returns
            }

            try
            {
                await writing;
                return 0;
            }
            catch (DlException)
            {
                return payloads.Count;
            }
        }

        public override async Task<Dlsn> WriteFirstAsync(ReadOnlyMemory<byte> payload) =>
            (await (_stream ??= client.OpenWriteStream(Name, new LogWriteStreamOptions { MaxInFlight = 64 * 1024 })).WriteAsync(payload)).Dlsn;

        public override IAsyncEnumerable<LogRecordWithDlsn> ReadAsync(Dlsn from, CancellationToken cancellationToken) =>
            client.ReadAsync(Name, new ClientReadOptions { From = from, Follow = true }, cancellationToken);

        public override async ValueTask DisposeAsync()
        {
            if (_stream is not null)
            {
                try
                {
                    await _stream.CompleteAsync();
                }
                catch (DlException)
                {
                    // A failed write was counted as an error already.
                }

                await _stream.DisposeAsync();
            }
        }
    }
}

/// <summary>A sandbox started in this process (temporary directory, ephemeral port), written through its proxy.</summary>
internal sealed class InProcessTarget : ProxyTarget
{
    private readonly SandboxHost _sandbox;
    private readonly string _directory;

    private InProcessTarget(SandboxHost sandbox, string directory)
        : base(ClientOptions.Connect(sandbox.Proxy.Endpoint), sandbox.Proxy.Endpoint, $"in-process sandbox (3 bookies, proxy {sandbox.Proxy.Endpoint})")
    {
        _sandbox = sandbox;
        _directory = directory;
    }

    public static async Task<InProcessTarget> StartAsync(CancellationToken cancellationToken)
    {
        string directory = Path.Combine(Path.GetTempPath(), "dlog-bench-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var sandbox = await SandboxHost.StartAsync(directory, 0, 3, NullLoggerFactory.Instance, cancellationToken, minFreeDiskBytes: 0);
            return new InProcessTarget(sandbox, directory);
        }
        catch
        {
            TryDelete(directory);
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _sandbox.DisposeAsync();
        TryDelete(_directory);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Through the core library: a namespace on the metadata store, an <see cref="AsyncLogWriter"/> per log.</summary>
internal sealed class CoreTarget(DistributedLogNamespace ns, string metadata) : BenchTarget
{
    public override string Description => $"core library, metadata {metadata}";

    public override async Task<BenchLog> CreateLogAsync(string name, CancellationToken cancellationToken)
    {
        await ns.CreateLogAsync(name, cancellationToken);
        var log = ns.OpenLog(name);
        return new CoreLog(log, await log.OpenWriterAsync(new LogWriterOptions(), cancellationToken));
    }

    public override Task DeleteLogAsync(string name, CancellationToken cancellationToken) => ns.DeleteLogAsync(name, cancellationToken);

    public override ValueTask DisposeAsync() => ns.DisposeAsync();

    private sealed class CoreLog(LogManager log, AsyncLogWriter writer) : BenchLog(log.Name)
    {
        private readonly Lock _gate = new();
        private long _txId;

        public override Task WriteAsync(ReadOnlyMemory<byte> payload)
        {
            // Txids are taken and handed to the writer in one step, so that concurrent callers never hand them out of order.
            lock (_gate)
            {
                return writer.WriteAsync(new LogRecord(++_txId, payload)).AsTask();
            }
        }

        public override async Task<int> WriteBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
        {
            // A batch is one record set with one txid, handed to the writer under the lock (before the call first waits).
            ValueTask<RecordSetDlsns> writing;
            lock (_gate)
            {
                writing = writer.WriteRecordSetAsync(++_txId, payloads);
            }

            try
            {
                await writing;
                return 0;
            }
            catch (DlException)
            {
                return payloads.Count;
            }
        }

        public override async Task<Dlsn> WriteFirstAsync(ReadOnlyMemory<byte> payload)
        {
            ValueTask<Dlsn> write;
            lock (_gate)
            {
                write = writer.WriteAsync(new LogRecord(++_txId, payload));
            }

            return await write;
        }

        public override async IAsyncEnumerable<LogRecordWithDlsn> ReadAsync(Dlsn from, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await using var reader = await log.OpenReaderAsync(from, cancellationToken: cancellationToken);
            while (true)
            {
                var records = await reader.ReadBulkAsync(1024, cancellationToken);
                foreach (var record in records)
                {
                    yield return record;
                }
            }
        }

        public override async ValueTask DisposeAsync()
        {
            try
            {
                await writer.CloseAsync();
            }
            catch (DlException)
            {
                // A failed write was counted as an error already.
            }

            await writer.DisposeAsync();
        }
    }
}
