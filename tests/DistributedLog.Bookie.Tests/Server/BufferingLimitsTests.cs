using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Bookie.Server;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Tests.Server;

/// <summary>
/// A live in-process bookie fed frames that are started and never finished (the "half-sent 1 MB frames" that once grew a
/// bookie's memory without bound), and more connections than it accepts, while a healthy <see cref="BookieClient"/> adds
/// and reads on its own connection. The bookie must close the stuck connections after its frame timeout, bound the bytes
/// of unfinished frames it buffers across connections, give them back, and the healthy client must see no error and lose
/// nothing. (The memory figures of a real bookie process under this load are in docs/reliability.md, "Bad input".)
/// </summary>
public sealed class BufferingLimitsTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const long Ledger = 777;
    private static readonly byte[] Key = [9, 8, 7];
    private static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(1.5);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dl-buffering-" + Guid.NewGuid().ToString("N"));
    private readonly LogCapture _logs = new();
    private ILoggerFactory _loggerFactory = null!;
    private BookieHost _host = null!;
    private BookieClient _client = null!;

    private static BookieServerOptions Limits(int maxConnections = 64) => new()
    {
        FrameReadTimeout = FrameTimeout,
        HandshakeTimeout = TimeSpan.FromSeconds(3),
        MaxPendingFrameBytes = 4L << 20,
        MaxConnections = maxConnections,
    };

    public async Task InitializeAsync() => await StartAsync(Limits());

    private async Task StartAsync(BookieServerOptions limits)
    {
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(_logs));
        _host = await BookieHost.StartAsync(new BookieHostOptions { DataDirectory = _dir, Port = 0, MinFreeDiskBytes = 0, Server = limits }, _loggerFactory);
        _client = new BookieClient(new BookieClientOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _host.DisposeAsync();
        _loggerFactory.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Half_sent_large_frames_are_bounded_and_closed_while_a_healthy_client_loses_nothing()
    {
        // The healthy client is connected first.
        Assert.Equal(StatusCode.Success, (await _client.PingAsync(_host.BookieId)).Status);

        // 24 stuck clients: each handshakes, then sends all but the last 100 bytes of a maximum-size add, and waits.
        const int stuck = 24;
        var attackers = new List<Socket>();
        for (int i = 0; i < stuck; i++)
        {
            attackers.Add(await StartHalfSentFrameAsync(PackagedEntry.MaxPayloadSize, missing: 100));
        }

        // While they hang, the healthy client keeps adding (small entries and some near the maximum size): its frames
        // are younger than every stuck one, and finish.
        var written = new ConcurrentDictionary<long, byte[]>();
        var writer = Task.Run(async () =>
        {
            var random = new Random(42);
            for (long entryId = 0; entryId < 150; entryId++)
            {
                int size = entryId % 25 == 24 ? 900_000 : random.Next(10, 4000);
                byte[] entry = Entry(entryId, size, random);
                var add = await _client.AddEntryAsync(_host.BookieId, Key, entry);
                Assert.Equal(StatusCode.Success, add.Status);
                written[entryId] = entry;
            }
        });

        // The unfinished bytes the server buffers stay bounded: over its budget, the oldest unfinished frames' connections
        // are closed at once; at most one read (a 256 KiB pipe segment) per connection can land before that.
        long unbounded = stuck * (long)(PackagedEntry.MaxSize - 100);
        long bound = _host.Server.Options.MaxPendingFrameBytes + stuck * (320L << 10);
        long peak = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (_host.Server.ConnectionCount > 1 && watch.Elapsed < FrameTimeout * 6)
        {
            peak = Math.Max(peak, _host.Server.PendingFrameBytes);
            await Task.Delay(5);
        }

        output.WriteLine($"peak unfinished-frame bytes {peak} (budget {_host.Server.Options.MaxPendingFrameBytes}, bound {bound}, unbounded {unbounded})");
        Assert.True(peak <= bound && bound < unbounded, $"peak of unfinished-frame bytes {peak}, bound {bound}, unbounded {unbounded}");

        // Every stuck connection is closed by the bookie (no response: the frame never finished) and its bytes given back.
        Assert.Equal(1, _host.Server.ConnectionCount);
        Assert.Equal(0, _host.Server.PendingFrameBytes);
        foreach (var socket in attackers)
        {
            Assert.Equal(0, await ReadToEndAsync(socket));
            socket.Dispose();
        }

        // Some were closed for the budget (the oldest first), the rest by the frame timeout.
        Assert.Contains(_logs.Messages, m => m.Contains("is the oldest while unfinished frames hold", StringComparison.Ordinal));
        Assert.Contains(_logs.Messages, m => m.Contains("stayed unfinished", StringComparison.Ordinal));

        // The healthy client saw no error and every entry it wrote reads back unchanged.
        await writer;
        Assert.Equal(150, written.Count);
        foreach (var (entryId, entry) in written)
        {
            var read = await _client.ReadEntryAsync(_host.BookieId, Ledger, entryId);
            Assert.Equal(StatusCode.Success, read.Status);
            Assert.Equal(entry, read.Entry.ToArray());
        }

        Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_client_that_keeps_completing_frames_is_never_timed_out()
    {
        // Frames written in pieces slower than the frame timeout in total, but each frame finishes well within it.
        using var socket = await HandshakenAsync();
        var random = new Random(3);
        var deadline = DateTime.UtcNow + FrameTimeout * 2.5;
        long entryId = 1000;
        while (DateTime.UtcNow < deadline)
        {
            byte[] frame = AddFrame(Entry(entryId, 2000, random), requestId: (ulong)entryId);
            await socket.SendAsync(frame.AsMemory(0, 1000));
            await Task.Delay(FrameTimeout / 10); // a 10x margin: a loaded machine may stretch the pause
            await socket.SendAsync(frame.AsMemory(1000));
            var (op, requestId, status) = await ReadResponseAsync(socket);
            Assert.Equal((BookieOp.AddEntry, (ulong)entryId, (int)StatusCode.Success), ((BookieOp)(op & 0x7F), requestId, status));
            entryId++;
        }
    }

    [Fact]
    public async Task Connections_beyond_the_cap_are_closed_and_the_others_keep_working()
    {
        await _client.DisposeAsync();
        await _host.DisposeAsync();
        _loggerFactory.Dispose();
        await StartAsync(Limits(maxConnections: 3));
        Assert.Equal(StatusCode.Success, (await _client.PingAsync(_host.BookieId)).Status);
        using var second = await HandshakenAsync();
        using var third = await HandshakenAsync();

        // The fourth and later connections are accepted by the kernel, then closed by the bookie without an answer.
        for (int i = 0; i < 3; i++)
        {
            using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await refused.ConnectAsync(_host.Server.Endpoint);
            Assert.Equal(0, await ReadToEndAsync(refused));
        }

        Assert.Contains(_logs.Messages, m => m.Contains("connections are open already", StringComparison.Ordinal));
        byte[] entry = Entry(0, 100, new Random(1));
        Assert.Equal(StatusCode.Success, (await _client.AddEntryAsync(_host.BookieId, Key, entry)).Status);
        Assert.Equal(entry, (await _client.ReadEntryAsync(_host.BookieId, Ledger, 0)).Entry.ToArray());

        // Once one closes, a new connection is served again.
        third.Dispose();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (_host.Server.ConnectionCount > 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        using var fourth = await HandshakenAsync();
    }

    [Fact]
    public async Task A_bookie_nobody_listens_for_is_BookieUnavailable_and_the_working_one_is_unaffected()
    {
        // A port that was just free: nothing listens there.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        string deadBookie = $"127.0.0.1:{((IPEndPoint)probe.LocalEndPoint!).Port}";
        probe.Dispose();

        var ping = await _client.PingAsync(deadBookie);
        Assert.Equal(StatusCode.BookieUnavailable, ping.Status);
        var add = await _client.AddEntryAsync(deadBookie, Key, Entry(0, 10, new Random(5)));
        Assert.Equal(StatusCode.BookieUnavailable, add.Status);
        Assert.Equal(StatusCode.Success, (await _client.PingAsync(_host.BookieId)).Status);
    }

    // ---------------------------------------------------------------- helpers

    private static byte[] Entry(long entryId, int size, Random random)
    {
        byte[] payload = new byte[size];
        random.NextBytes(payload);
        byte[] entry = new byte[PackagedEntry.SizeOf(size)];
        PackagedEntry.Write(entry, Ledger, entryId, entryId - 1, 0, payload);
        return entry;
    }

    private static byte[] Frame(BookieOp op, ulong requestId, ReadOnlySpan<byte> body)
    {
        byte[] frame = new byte[BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize + body.Length];
        BookieProtocol.WriteHeader(frame, body.Length, (byte)op, 0, requestId);
        body.CopyTo(frame.AsSpan(BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize));
        return frame;
    }

    private static byte[] AddFrame(byte[] entry, ulong requestId)
    {
        byte[] body = [(byte)Key.Length, .. Key, .. entry];
        return Frame(BookieOp.AddEntry, requestId, body);
    }

    private async Task<Socket> HandshakenAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(_host.Server.Endpoint);
        byte[] body = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, BookieProtocol.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(6), 1);
        await socket.SendAsync(Frame(BookieOp.Handshake, 1, body));
        var (op, requestId, status) = await ReadResponseAsync(socket);
        Assert.Equal(((byte)BookieOp.Handshake | BookieProtocol.ResponseBit, 1UL, (int)StatusCode.Success), (op, requestId, status));
        return socket;
    }

    /// <summary>Opens a connection, handshakes and sends an add frame of <paramref name="payload"/> bytes minus its last <paramref name="missing"/>.</summary>
    private async Task<Socket> StartHalfSentFrameAsync(int payload, int missing)
    {
        var socket = await HandshakenAsync();
        byte[] frame = AddFrame(Entry(1_000_000, payload, new Random(payload)), requestId: 99);
        // Not awaited to the end: once the bookie stops reading, the kernel buffers fill and the send would block.
        _ = socket.SendAsync(frame.AsMemory(0, frame.Length - missing)).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        return socket;
    }

    /// <summary>Reads one response frame: op, request id and status.</summary>
    private static async Task<(byte Op, ulong RequestId, int Status)> ReadResponseAsync(Socket socket)
    {
        byte[] head = new byte[BookieProtocol.LengthPrefixSize + BookieFraming.MinResponseLength];
        await ReadExactlyAsync(socket, head);
        int length = BinaryPrimitives.ReadInt32LittleEndian(head);
        byte[] rest = new byte[length - BookieFraming.MinResponseLength];
        await ReadExactlyAsync(socket, rest);
        var response = BookieFraming.DecodeResponse(head.AsSpan(BookieProtocol.LengthPrefixSize));
        return (head[4], response.RequestId, (int)response.Status);
    }

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
            Assert.True(n > 0, "the bookie closed the connection");
            read += n;
        }
    }

    /// <summary>Reads until the peer closes (or resets); returns the bytes received. Fails after 10 s.</summary>
    private static async Task<int> ReadToEndAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        byte[] buffer = new byte[4096];
        int total = 0;
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return total;
                }

                total += n;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
        {
            return total;
        }
    }

    private sealed class LogCapture : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

        public IEnumerable<string> Messages => Entries.Select(e => e.Message);

        public ILogger CreateLogger(string categoryName) => new Logger(Entries);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<(LogLevel, string)> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
