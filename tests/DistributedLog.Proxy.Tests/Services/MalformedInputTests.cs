using System.Collections.Concurrent;
using System.Net;
using System.Text;
using DistributedLog.Client;
using DistributedLog.Grpc;
using DistributedLog.Grpc.V1;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Testing;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Record = DistributedLog.Grpc.V1.Record;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>
/// Issue 9, section 5: a live proxy fed malformed gRPC messages — bad protobuf, giant messages, wrong CRCs, streams that
/// never finish — while a healthy client works on another connection. Each bad call gets an error of its own (or is
/// closed); the healthy client sees no error and loses nothing; the proxy logs one line per malformed request and never
/// a stack trace.
/// </summary>
public sealed class MalformedInputTests : IAsyncLifetime
{
    private const string Service = "distributedlog.v1.DistributedLogProxy";
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);
    private readonly CapturingLoggerProvider _logs = new();
    private ILoggerFactory _loggerFactory = null!;
    private InProcessCluster _cluster = null!;
    private DistributedLogNamespace _namespace = null!;
    private ProxyHost _proxy = null!;

    public async Task InitializeAsync()
    {
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(_logs));
        _cluster = await InProcessCluster.StartAsync(3);
        _namespace = DistributedLogNamespace.Create(_cluster.Store, _cluster.Client);
        _proxy = await ProxyHost.StartAsync(InProcessProxies.Options(), _namespace, _loggerFactory);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _namespace.DisposeAsync();
        await _cluster.DisposeAsync();
        _loggerFactory.Dispose();
    }

    private static Method<byte[], byte[]> Raw(MethodType type, string name) => new(type, Service, name, Bytes, Bytes);

    [Fact]
    public async Task BadCallsFailAloneWhileAHealthyClientLosesNothing()
    {
        await using var healthy = DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = [_proxy.Endpoint],
            DiscoverProxies = false,
            RetryBudget = TimeSpan.FromSeconds(20),
        });
        await healthy.CreateLogAsync("healthy");
        await healthy.CreateLogAsync("victim");

        // The healthy client streams records on its own connection during the whole attack.
        using var stopHealthy = new CancellationTokenSource();
        var acknowledged = new List<LogWriteResult>();
        var healthyWork = Task.Run(async () =>
        {
            await using var stream = healthy.OpenWriteStream("healthy");
            int i = 0;
            while (!stopHealthy.IsCancellationRequested || i < 200)
            {
                var batch = Enumerable.Range(i, 20).Select(n => stream.WriteAsync(Encoding.UTF8.GetBytes($"h{n}"))).ToList();
                foreach (var write in batch)
                {
                    acknowledged.Add(await write);
                }

                i += 20;
            }
        });

        using var attacker = GrpcChannel.ForAddress(_proxy.Endpoint, new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        var invoker = attacker.CreateCallInvoker();
        int malformed = 0;

        // 1. Bad protobuf in unary calls (invalid for every message type): a length-delimited field longer than the
        //    message, an invalid wire type, a varint over ten bytes, a zero tag.
        byte[][] junk =
        [
            [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 0x01],
            [0x0F, 0x01, 0x02],
            [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            [0x00, 0x01],
        ];
        foreach (string method in new[] { "Write", "WriteBulk", "Describe", "Truncate" })
        {
            foreach (var bytes in junk)
            {
                var error = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw(MethodType.Unary, method), null, new CallOptions(), bytes).ResponseAsync);
                Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
                Assert.Contains("not a valid protobuf message", error.Status.Detail, StringComparison.Ordinal);
                malformed++;
            }
        }

        // 2. Bad protobuf in the middle of a write stream: the records before it are acknowledged, the call ends with
        //    INVALID_ARGUMENT, the junk is not written.
        using (var stream = invoker.AsyncDuplexStreamingCall(Raw(MethodType.DuplexStreaming, "WriteStream"), null, new CallOptions()))
        {
            var first = new WriteStreamRequest { Log = "victim", Records = { new Record { Payload = ByteString.CopyFromUtf8("good") } } };
            await stream.RequestStream.WriteAsync(first.ToByteArray());
            await stream.RequestStream.WriteAsync(junk[0]);
            var responses = new List<WriteStreamResponse>();
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await stream.ResponseStream.MoveNext(CancellationToken.None))
                {
                    responses.Add(WriteStreamResponse.Parser.ParseFrom(stream.ResponseStream.Current));
                }
            });
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            malformed++;
        }

        // 3. A giant message (6 MiB, over the 4 MiB limit) is refused from its length prefix, unbuffered: RESOURCE_EXHAUSTED.
        var giant = new byte[6 << 20];
        var tooLarge = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw(MethodType.Unary, "WriteBulk"), null, new CallOptions(), giant).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, tooLarge.StatusCode);

        // 4. A wrong CRC: refused with CHECKSUM_FAILED in the response, nothing written.
        var typed = new DistributedLogProxy.DistributedLogProxyClient(attacker);
        var corrupt = await typed.WriteAsync(new WriteRequest { Log = "victim", Record = new Record { Payload = ByteString.CopyFromUtf8("corrupt"), Crc32C = 1 } });
        Assert.Equal((int)Protocol.Errors.StatusCode.ChecksumFailed, corrupt.Header.Code);

        // 5. Streams that never finish: a write stream left open after its first record, and a raw HTTP/2 call whose
        //    gRPC frame declares 1 MiB and sends 100 bytes, then stalls. Neither holds up anyone else.
        using var openStream = typed.WriteStream();
        await openStream.RequestStream.WriteAsync(new WriteStreamRequest { Log = "victim", Records = { new Record { Payload = ByteString.CopyFromUtf8("open") } } });
        Assert.True(await openStream.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Single(openStream.ResponseStream.Current.Txids);
        using var stall = new CancellationTokenSource();
        using var http = new HttpClient(new SocketsHttpHandler());
        var halfSent = Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{_proxy.Endpoint}/{Service}/WriteStream")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new StallingContent(stall.Token),
            };
            request.Headers.TryAddWithoutValidation("te", "trailers");
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token);
                return $"answered {response.StatusCode} {response.Headers}";
            }
            catch (OperationCanceledException)
            {
                return "stalled until cancelled";
            }
            catch (HttpRequestException e)
            {
                return $"failed: {e}";
            }
        });

        // The healthy client keeps going meanwhile; then it stops and checks everything it was told.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.False(halfSent.IsCompleted, halfSent.IsCompleted ? await halfSent : "");
        await stopHealthy.CancelAsync();
        await healthyWork;
        await stall.CancelAsync();
        Assert.Equal("stalled until cancelled", await halfSent);
        await openStream.RequestStream.CompleteAsync();

        var read = new List<LogRecordWithDlsn>();
        await foreach (var record in healthy.ReadAsync("healthy").WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            read.Add(record);
        }

        Assert.True(acknowledged.Count >= 200);
        Assert.Equal(acknowledged.Select(a => a.Dlsn), read.Select(r => r.Dlsn));
        Assert.Equal(Enumerable.Range(0, acknowledged.Count).Select(i => $"h{i}"), read.Select(r => Encoding.UTF8.GetString(r.Payload.Span)));
        var victim = new List<string>();
        await foreach (var record in healthy.ReadAsync("victim").WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            victim.Add(Encoding.UTF8.GetString(record.Payload.Span));
        }

        Assert.Equal(["good", "open"], victim);

        // One warning line per malformed request, no stack trace anywhere, no error logged for a client's mistake.
        var entries = _logs.Entries.ToList();
        Assert.Equal(malformed, entries.Count(e => e.Message.StartsWith("Refused a malformed", StringComparison.Ordinal) && e.Level == LogLevel.Warning));
        Assert.DoesNotContain(entries, e => e.Exception is not null);
        Assert.DoesNotContain(entries, e => e.Level >= LogLevel.Error);
    }

    /// <summary>A gRPC request body that sends a frame header for 1 MiB and 100 bytes of it, then stalls until cancelled.</summary>
    private sealed class StallingContent : HttpContent
    {
        private readonly CancellationToken _stall;

        public StallingContent(CancellationToken stall)
        {
            _stall = stall;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(new byte[] { 0, 0x00, 0x10, 0x00, 0x00 });
            await stream.WriteAsync(new byte[100]);
            await stream.FlushAsync();
            try
            {
                await Task.Delay(Timeout.Infinite, _stall);
            }
            catch (OperationCanceledException)
            {
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>Keeps every log entry (level, category, message, exception) for assertions.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Category, string Message, Exception? Exception)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                provider.Entries.Enqueue((logLevel, category, formatter(state, exception), exception));
        }
    }
}
