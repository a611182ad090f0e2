using DistributedLog.Client;
using DistributedLog.Client.Writes;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Writers;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Net;

namespace DistributedLog.Compare;

/// <summary>
/// etcd: one <c>Put</c> of a new key per record (each a Raft entry, acknowledged after a majority of the three members
/// appended it to their WAL with fdatasync, batched). Calls go round-robin to the members, as etcd's own client
/// balancer does; a follower forwards to the leader.
/// </summary>
internal sealed class EtcdDriver : IDriver
{
    private readonly GrpcChannel[] _channels;
    private readonly KV.KVClient[] _clients;
    private long _next;

    public EtcdDriver(IEnumerable<string> endpoints)
    {
        _channels = endpoints.Select(e => GrpcChannel.ForAddress(e)).ToArray();
        _clients = _channels.Select(c => new KV.KVClient(c)).ToArray();
    }

    public string System => "etcd";

    public async Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken)
    {
        // Every member answers before the run starts (a clear failure here instead of errors in the loop).
        foreach (var client in _clients)
        {
            await client.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/compare/probe") }, cancellationToken: cancellationToken);
        }

        return new Writer(this, $"/compare/{workload.Id}/{Guid.NewGuid():N}/");
    }

    public ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private sealed class Writer(EtcdDriver driver, string prefix) : IRecordWriter
    {
        public async ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        {
            long n = Interlocked.Increment(ref driver._next);
            var request = new PutRequest { Key = ByteString.CopyFromUtf8(prefix + n.ToString("D12", global::System.Globalization.CultureInfo.InvariantCulture)), Value = ByteString.CopyFrom(payload.Span) };
            await driver._clients[n % driver._clients.Length].PutAsync(request, cancellationToken: cancellationToken);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// NATS JetStream: a JetStream publish per record to a stream with three replicas and file storage, acknowledged once
/// the stream's Raft group has it on a majority. nats-server does NOT fsync each message: it writes to the page cache
/// and syncs on an interval, so its acknowledgement promises less than etcd's or ours.
/// </summary>
internal sealed class NatsDriver(string urls) : IDriver
{
    private readonly NatsClient _client = new(urls);

    public string System => "nats";

    public async Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken)
    {
        var js = _client.CreateJetStreamContext();
        string stream = "COMPARE_" + workload.Id.ToUpperInvariant() + "_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        string subject = "compare." + stream.ToLowerInvariant();
        var config = new StreamConfig(stream, [subject]) { NumReplicas = 3, Storage = StreamConfigStorage.File };

        // The JetStream meta group elects its leader a few seconds after the servers start: retry until it takes the stream.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await js.CreateStreamAsync(config, cancellationToken);
                break;
            }
            catch (Exception e) when (e is NatsJSException or NATS.Client.Core.NatsException or TimeoutException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, cancellationToken);
            }
        }

        return new Writer(js, subject);
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private sealed class Writer(INatsJSContext js, string subject) : IRecordWriter
    {
        public async ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        {
            var ack = await js.PublishAsync(subject, payload, cancellationToken: cancellationToken);
            ack.EnsureSuccess();
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// Ours through the core library: a namespace on the cluster's metadata store, one log per workload, its
/// <see cref="AsyncLogWriter"/> (E=3 Qw=3 Qa=2; each bookie fdatasyncs its journal before it acknowledges).
/// </summary>
internal sealed class CoreDriver(DistributedLogNamespace ns) : IDriver
{
    private long _txId;

    public string System => "core";

    public static async Task<CoreDriver> OpenAsync(string metadataUri, CancellationToken cancellationToken) =>
        new(await DistributedLogNamespace.OpenAsync(metadataUri, "default", cancellationToken: cancellationToken));

    public async Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken)
    {
        string name = $"compare/core-{workload.Id}-{Guid.NewGuid():N}";
        await ns.CreateLogAsync(name, cancellationToken);
        var writer = await ns.OpenLog(name).OpenWriterAsync(new LogWriterOptions { EnsembleSize = 3, WriteQuorumSize = 3, AckQuorumSize = 2 }, cancellationToken);
        return new Writer(this, writer);
    }

    public ValueTask DisposeAsync() => ns.DisposeAsync();

    private sealed class Writer(CoreDriver driver, AsyncLogWriter writer) : IRecordWriter
    {
        private readonly Lock _order = new();

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        {
            // Transaction ids must not decrease along the log: the id is taken and the record handed to the writer
            // under one lock (the call only enqueues; the wait for the acknowledgement is outside).
            ValueTask<Dlsn> pending;
            lock (_order)
            {
                pending = writer.WriteAsync(new LogRecord(++driver._txId, payload));
            }

            await pending;
        }

        public async ValueTask DisposeAsync() => await writer.CloseAsync(CancellationToken.None);
    }
}

/// <summary>Ours through the proxy: a <see cref="DistributedLogClient"/> write stream to one log per workload.</summary>
internal sealed class ProxyDriver(string endpoint) : IDriver
{
    private readonly DistributedLogClient _client = DistributedLogClient.Create(new DistributedLogClientOptions
    {
        Endpoints = [endpoint],
        FailFastWhenNoProxyReachable = true,
        CallTimeout = TimeSpan.FromSeconds(30),
    });

    public string System => "proxy";

    public async Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken)
    {
        string name = $"compare/proxy-{workload.Id}-{Guid.NewGuid():N}";
        try
        {
            await _client.CreateLogAsync(name, cancellationToken);
        }
        catch (LogExistsException)
        {
        }

        return new Writer(_client.OpenWriteStream(name, new LogWriteStreamOptions()));
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private sealed class Writer(LogWriteStream stream) : IRecordWriter
    {
        public async ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) => await stream.WriteAsync(payload);

        public async ValueTask DisposeAsync()
        {
            await stream.CompleteAsync();
            await stream.DisposeAsync();
        }
    }
}
