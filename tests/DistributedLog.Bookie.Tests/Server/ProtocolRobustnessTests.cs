using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CsCheck;
using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Hosting;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;
using ILogger = Microsoft.Extensions.Logging.ILogger;

namespace DistributedLog.Bookie.Tests.Server;

/// <summary>
/// Malformed input on one connection must never crash the bookie nor disturb its other clients: garbage, absurd length
/// prefixes, truncated frames, frames before the handshake, bad handshakes, unknown operations and bad add bodies.
/// Every test runs a real in-process bookie on loopback; the misbehaving client is a raw socket that frames requests by
/// hand (little-endian, see <see cref="BookieProtocol"/>), and two well-behaved clients (a <see cref="BookieClient"/> and
/// a raw "bystander" connection opened before the abuse) must keep working on their original connections.
/// </summary>
public sealed class ProtocolRobustnessTests : IAsyncLifetime
{
    private const int Success = 200;
    private const int ChecksumFailed = 523;
    private const int BadRequest = 707;
    private const int ProtocolError = 708;
    private const long GoodLedger = 4242;
    private const long RawLedger = 5151;
    private const int ResponseHeaderAndFixed = 12 + 28;

    private static readonly TimeSpan IoTimeout = TimeSpan.FromSeconds(5);
    private static readonly byte[] GoodKey = [1, 2, 3, 4, 5, 6, 7, 8];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dl-proto-" + Guid.NewGuid().ToString("N"));
    private readonly CapturingLoggerProvider _logs = new();
    private ILoggerFactory _loggerFactory = null!;
    private BookieHost _host = null!;
    private BookieClient _client = null!;
    private RawConnection _bystander = null!;
    private long _nextGoodEntry;
    private int _baselineConnections;

    public async Task InitializeAsync()
    {
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(_logs));
        _host = await BookieHost.StartAsync(new BookieHostOptions { DataDirectory = _dir, Port = 0, MinFreeDiskBytes = 0 }, _loggerFactory);
        _client = new BookieClient(new BookieClientOptions { RequestTimeout = IoTimeout, ConnectTimeout = IoTimeout });
        await AssertGoodClientWorksAsync();
        _bystander = await ConnectAsync();
        await _bystander.HandshakeAsync(_host.BookieId);
        _baselineConnections = 2;
        await WaitForConnectionCountAsync(_baselineConnections);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _bystander.DisposeAsync();
            await _client.DisposeAsync();
            await _host.DisposeAsync();
            _loggerFactory.Dispose();
        }
        finally
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    // ---------------------------------------------------------------- 1. random bytes right after connect

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Random_bytes_after_connect_close_that_connection_only(int seed)
    {
        var random = new Random(seed);
        for (int round = 0; round < 4; round++)
        {
            byte[] garbage = new byte[random.Next(1, 4096)];
            random.NextBytes(garbage);
            await using var raw = await ConnectAsync();
            await raw.SendAsync(garbage);

            var (verdict, requestId) = PredictFirstFrame(garbage);
            if (verdict == FirstFrame.BadLength)
            {
                // Refused on the length prefix alone: the bookie must hang up on its own.
                await raw.ExpectLengthRefusalThenCloseAsync();
                await AssertLoggedAsync(raw, "protocol violation: frame length");
            }
            else if (verdict == FirstFrame.Whole)
            {
                // A whole frame before any handshake: ProtocolError with its request id, then the bookie hangs up.
                await raw.ExpectProtocolErrorThenCloseAsync(requestId);
                await AssertLoggedAsync(raw, "protocol violation");
            }
            else
            {
                // The first frame is not complete yet (a plausible length prefix): nothing may come back; once the
                // client half-closes, the bookie must give up on the frame and close without answering.
                await raw.ExpectNothingAsync(TimeSpan.FromMilliseconds(100));
                raw.Socket.Shutdown(SocketShutdown.Send);
                Assert.Empty(await raw.ReadUntilClosedAsync());
                await AssertLoggedAsync(raw, "connection closed inside a frame");
            }
        }

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Random_length_prefixed_frames_before_the_handshake_get_ProtocolError_and_close()
    {
        // Well-framed but otherwise random frames (any op but Handshake, random flags, id and body).
        var frames = Gen.Select(Gen.Byte.Where(op => op != (byte)BookieOp.Handshake), Gen.Byte, Gen.ULong, Gen.Byte.Array[0, 600]);
        await frames.SampleAsync(async (op, flags, requestId, body) =>
        {
            await using var raw = await ConnectAsync();
            await raw.SendAsync(Frame(op, flags, requestId, body));
            await raw.ExpectProtocolErrorThenCloseAsync(requestId);
        }, iter: 25, threads: 1);

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public async Task Random_bytes_after_a_good_handshake_never_break_the_bookie(int seed)
    {
        var random = new Random(seed);
        for (int round = 0; round < 4; round++)
        {
            await using var raw = await ConnectAsync();
            await raw.HandshakeAsync(_host.BookieId);
            byte[] garbage = new byte[random.Next(1, 4096)];
            random.NextBytes(garbage);
            await raw.SendAsync(garbage);
            raw.Socket.Shutdown(SocketShutdown.Send);
            // Whatever the bookie made of it, it must answer only with well-formed response frames, then close.
            byte[] received = await raw.ReadUntilClosedAsync();
            foreach (var response in ParseResponses(received))
            {
                Assert.True((response.Op & BookieProtocol.ResponseBit) != 0, $"response op {response.Op:x2} lacks the response bit");
            }
        }

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- 2. absurd length prefixes

    [Theory]
    [InlineData(0x7FFFFFFF, false)]
    [InlineData(BookieProtocol.MaxFrameSize + 1, false)]
    [InlineData(-1, false)]
    [InlineData(int.MinValue, false)]
    [InlineData(0, false)]
    [InlineData(BookieProtocol.HeaderSize - 1, false)]
    [InlineData(0x7FFFFFFF, true)]
    [InlineData(BookieProtocol.MaxFrameSize + 1, true)]
    public async Task Length_prefix_out_of_range_closes_only_that_connection(int length, bool handshaken)
    {
        await using var raw = await ConnectAsync();
        if (handshaken)
        {
            await raw.HandshakeAsync(_host.BookieId);
        }

        await raw.SendAsync(OutOfRangeFrame(length));
        await raw.ExpectLengthRefusalThenCloseAsync();
        await AssertLoggedAsync(raw, $"frame length {length} is outside");
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Theory]
    [InlineData(0x7FFFFFFF, false)]
    [InlineData(BookieProtocol.MaxFrameSize + 1, false)]
    [InlineData(-1, false)]
    [InlineData(0x7FFFFFFF, true)]
    public async Task Length_prefix_out_of_range_is_answered_with_ProtocolError(int length, bool handshaken)
    {
        await using var raw = await ConnectAsync();
        if (handshaken)
        {
            await raw.HandshakeAsync(_host.BookieId);
        }

        await raw.SendAsync(OutOfRangeFrame(length));
        // The length is judged before the frame is read, so the answer carries request id 0.
        await raw.ExpectProtocolErrorThenCloseAsync(0);
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    private static byte[] OutOfRangeFrame(int length)
    {
        byte[] bytes = new byte[4 + 12];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, length);
        bytes[4] = (byte)BookieOp.Ping;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 77);
        return bytes;
    }

    [Fact]
    public async Task Largest_legal_frame_is_accepted_and_one_byte_more_is_not()
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        // A Ping padded to exactly MaxFrameSize is legal (Ping ignores its body).
        await raw.SendAsync(Frame((byte)BookieOp.Ping, 0, 5, new byte[BookieProtocol.MaxFrameSize - BookieProtocol.HeaderSize]));
        var pong = await raw.ReadResponseAsync();
        AssertResponse(pong, BookieOp.Ping, 5, Success);

        await raw.SendAsync(Frame((byte)BookieOp.Ping, 0, 6, new byte[BookieProtocol.MaxFrameSize - BookieProtocol.HeaderSize + 1]));
        await raw.ExpectLengthRefusalThenCloseAsync();
        await AssertLoggedAsync(raw, $"frame length {BookieProtocol.MaxFrameSize + 1} is outside");
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- 3. truncated frames

    [Fact]
    public async Task Truncated_handshake_then_half_close_closes_without_answer()
    {
        await using var raw = await ConnectAsync();
        byte[] frame = Frame((byte)BookieOp.Handshake, 0, 1, HandshakeBody(BookieProtocol.Magic, 1, 1));
        await raw.SendAsync(frame.AsMemory(0, frame.Length - 3));
        await raw.ExpectNothingAsync(TimeSpan.FromMilliseconds(150));
        Assert.Equal(_baselineConnections + 1, _host.Server.ConnectionCount);

        raw.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await raw.ReadUntilClosedAsync());
        await AssertLoggedAsync(raw, "connection closed inside a frame");
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Truncated_length_prefix_then_half_close_closes_without_answer()
    {
        await using var raw = await ConnectAsync();
        await raw.SendAsync(new byte[] { 40, 0 });
        raw.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await raw.ReadUntilClosedAsync());
        await AssertLoggedAsync(raw, "connection closed inside a frame (2 bytes left)");
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Truncated_add_after_handshake_then_full_close_is_dropped_and_nothing_is_stored()
    {
        var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        byte[] entry = MakeEntry(RawLedger, 0, 900, seed: 3);
        byte[] frame = Frame((byte)BookieOp.AddEntry, 0, 9, AddBody(GoodKey, entry));
        await raw.SendAsync(frame.AsMemory(0, frame.Length / 2));
        string remote = raw.LocalEndPoint;
        await raw.DisposeAsync(); // a full close mid-frame

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertLoggedAsync(remote, "connection closed inside a frame");
        // The half-sent entry must not have been added.
        var read = await _client.ReadEntryAsync(_host.BookieId, RawLedger, 0);
        Assert.Equal(StatusCode.NoSuchLedger, read.Status);
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Frames_delivered_one_byte_at_a_time_are_reassembled()
    {
        await using var raw = await ConnectAsync();
        byte[] bytes = [.. Frame((byte)BookieOp.Handshake, 0, 1, HandshakeBody(BookieProtocol.Magic, 1, 1)), .. Frame((byte)BookieOp.Ping, 0, 2, [])];
        for (int i = 0; i < bytes.Length; i++)
        {
            await raw.SendAsync(bytes.AsMemory(i, 1));
            if (i % 8 == 0)
            {
                await Task.Delay(1);
            }
        }

        var handshake = await raw.ReadResponseAsync();
        AssertResponse(handshake, BookieOp.Handshake, 1, Success);
        Assert.Equal(BookieProtocol.Version, handshake!.A);
        var pong = await raw.ReadResponseAsync();
        AssertResponse(pong, BookieOp.Ping, 2, Success);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- 4. frames before the handshake

    [Theory]
    [InlineData((byte)BookieOp.Ping)]
    [InlineData((byte)BookieOp.AddEntry)]
    [InlineData((byte)BookieOp.ReadEntry)]
    [InlineData((byte)BookieOp.ReadLac)]
    [InlineData((byte)BookieOp.Fence)]
    [InlineData((byte)BookieOp.DeleteLedger)]
    [InlineData((byte)BookieOp.LongPollRead)]
    [InlineData(0)]
    [InlineData(0xEE)]
    public async Task Well_formed_frame_before_the_handshake_gets_ProtocolError_then_close(byte op)
    {
        await using var raw = await ConnectAsync();
        // A body that would be valid for the op (ledger 1 / entry 0 / 20 ms, empty key), then a good handshake in the same
        // write: the handshake after the violation must not be processed.
        byte[] body = new byte[21];
        BinaryPrimitives.WriteInt64LittleEndian(body, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(16), 20);
        byte[] bytes = [.. Frame(op, 0, 0xABCDEF0123456789, body), .. Frame((byte)BookieOp.Handshake, 0, 2, HandshakeBody(BookieProtocol.Magic, 1, 1))];
        await raw.SendAsync(bytes);
        await raw.ExpectProtocolErrorThenCloseAsync(0xABCDEF0123456789);
        await AssertLoggedAsync(raw, "before the handshake");
        await WaitForConnectionCountAsync(_baselineConnections);

        // Nothing was done on the bookie's behalf: ledger 1 was neither fenced nor created nor deleted.
        var lac = await _client.ReadLacAsync(_host.BookieId, 1);
        Assert.Equal(StatusCode.NoSuchLedger, lac.Status);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- 5. bad handshakes

    [Theory]
    [InlineData(0x00000000u, 1, 1)]
    [InlineData(0x444C424Bu, 1, 1)] // "DLBK" in the wrong byte order
    [InlineData(BookieProtocol.Magic + 1, 1, 1)]
    [InlineData(BookieProtocol.Magic, 2, 5)]
    [InlineData(BookieProtocol.Magic, 0, 0)]
    [InlineData(BookieProtocol.Magic, 2, 1)]
    [InlineData(BookieProtocol.Magic, 65535, 65535)]
    public async Task Bad_handshake_gets_ProtocolError_and_close(uint magic, int min, int max)
    {
        await using var raw = await ConnectAsync();
        byte[] bytes = [.. Frame((byte)BookieOp.Handshake, 0, 31, HandshakeBody(magic, (ushort)min, (ushort)max)), .. Frame((byte)BookieOp.Ping, 0, 32, [])];
        await raw.SendAsync(bytes);
        await raw.ExpectProtocolErrorThenCloseAsync(31);
        await AssertLoggedAsync(raw, "protocol violation");
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(7)]
    public async Task Handshake_with_short_body_gets_ProtocolError_and_close(int bodyLength)
    {
        await using var raw = await ConnectAsync();
        byte[] body = HandshakeBody(BookieProtocol.Magic, 1, 1).AsSpan(0, bodyLength).ToArray();
        await raw.SendAsync(Frame((byte)BookieOp.Handshake, 0, 41, body));
        await raw.ExpectProtocolErrorThenCloseAsync(41);
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Handshake_with_wide_version_range_including_1_is_accepted()
    {
        await using var raw = await ConnectAsync();
        await raw.SendAsync(Frame((byte)BookieOp.Handshake, 0, 1, HandshakeBody(BookieProtocol.Magic, 0, 9)));
        var response = await raw.ReadResponseAsync();
        AssertResponse(response, BookieOp.Handshake, 1, Success);
        Assert.Equal(1, response!.A);
        Assert.Equal((long)BookieState.Writable, response.B);
        Assert.Equal(_host.BookieId, Encoding.UTF8.GetString(response.Payload));
    }

    // ---------------------------------------------------------------- 6. unknown op codes after the handshake

    [Fact]
    public async Task Unknown_op_after_handshake_gets_BadRequest_and_the_connection_stays_usable()
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        ulong id = 100;
        foreach (byte op in new byte[] { 0, 9, 10, 0x40, 0x7F, 0x80, 0x88, 0xC2, 0xFF })
        {
            await raw.SendAsync(Frame(op, 0x5A, ++id, [1, 2, 3]));
            var response = await raw.ReadResponseAsync();
            Assert.NotNull(response);
            Assert.Equal(BadRequest, response.Status);
            Assert.Equal(id, response.RequestId);
            Assert.Equal((byte)(op | BookieProtocol.ResponseBit), response.Op);
            Assert.Empty(response.Payload);

            await raw.SendAsync(Frame((byte)BookieOp.Ping, 0, ++id, []));
            AssertResponse(await raw.ReadResponseAsync(), BookieOp.Ping, id, Success);
            await AssertLoggedAsync(raw, $"Unknown operation {op} from");
        }

        // Pipelined in one write: unknown, ping, unknown, ping: all four answered, in order of the requests' ids.
        byte[] burst = [.. Frame(0x33, 0, 901, []), .. Frame((byte)BookieOp.Ping, 0, 902, []), .. Frame(0x34, 0, 903, [9]), .. Frame((byte)BookieOp.Ping, 0, 904, [])];
        await raw.SendAsync(burst);
        var answers = new Dictionary<ulong, Response>();
        for (int i = 0; i < 4; i++)
        {
            var r = await raw.ReadResponseAsync();
            Assert.NotNull(r);
            answers.Add(r.RequestId, r);
        }

        Assert.Equal(BadRequest, answers[901].Status);
        Assert.Equal(Success, answers[902].Status);
        Assert.Equal(BadRequest, answers[903].Status);
        Assert.Equal(Success, answers[904].Status);
        Assert.Equal(_baselineConnections + 1, _host.Server.ConnectionCount);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- 7. bad AddEntry bodies

    public static TheoryData<string, byte[]> MalformedAddBodies()
    {
        byte[] entry = MakeEntry(RawLedger, 0, 16, seed: 1);
        var data = new TheoryData<string, byte[]>
        {
            { "empty body", [] },
            { "key length only", [8] },
            { "key longer than the body", [.. new byte[] { 60 }, .. new byte[10]] },
            { "entry shorter than its header", [.. new byte[] { 0 }, .. new byte[PackagedEntry.HeaderSize - 1]] },
            { "key present, entry header cut", [.. new byte[] { 8 }, .. GoodKey, .. entry.AsSpan(0, PackagedEntry.HeaderSize - 1).ToArray()] },
            { "key length 65", [.. new byte[] { 65 }, .. new byte[65], .. entry] },
            { "key length 255", [.. new byte[] { 255 }, .. new byte[255], .. entry] },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedAddBodies))]
    public async Task Malformed_add_body_gets_ProtocolError_and_close(string what, byte[] body)
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        // The violation and a ping in one write: the ping must not be answered.
        byte[] bytes = [.. Frame((byte)BookieOp.AddEntry, 0, 71, body), .. Frame((byte)BookieOp.Ping, 0, 72, [])];
        await raw.SendAsync(bytes);
        await raw.ExpectProtocolErrorThenCloseAsync(71);
        await AssertLoggedAsync(raw, "AddEntry body malformed");
        await WaitForConnectionCountAsync(_baselineConnections);

        var read = await _client.ReadLacAsync(_host.BookieId, RawLedger);
        Assert.True(read.Status == StatusCode.NoSuchLedger, $"{what}: ledger {RawLedger} exists after a malformed add ({read.Status})");
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Add_with_max_length_key_is_accepted()
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        byte[] key = Enumerable.Range(0, BookieProtocol.MaxMasterKeyLength).Select(i => (byte)i).ToArray();
        byte[] entry = MakeEntry(RawLedger, 0, 100, seed: 8);
        await raw.SendAsync(Frame((byte)BookieOp.AddEntry, 0, 81, AddBody(key, entry)));
        var response = await raw.ReadResponseAsync();
        AssertResponse(response, BookieOp.AddEntry, 81, Success);
        Assert.Equal(RawLedger, response!.A);
        Assert.Equal(0, response.B);
        var read = await _client.ReadEntryAsync(_host.BookieId, RawLedger, 0);
        Assert.Equal(StatusCode.Success, read.Status);
        Assert.Equal(entry, read.Entry.ToArray());
    }

    public static TheoryData<string, int> CorruptionPoints() => new()
    {
        { "payload byte", PackagedEntry.HeaderSize + 5 },
        { "ledger id byte", 0 },
        { "lac byte", 17 },
        { "checksum byte", 37 },
        { "payload length byte", 32 },
        { "payload length sign", 35 },
    };

    [Theory]
    [MemberData(nameof(CorruptionPoints))]
    public async Task Add_with_bad_checksum_gets_ChecksumFailed_and_the_connection_stays_usable(string what, int offset)
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        byte[] entry = MakeEntry(RawLedger, 0, 64, seed: 2);
        byte[] corrupt = (byte[])entry.Clone();
        corrupt[offset] ^= 0x80;
        await raw.SendAsync(Frame((byte)BookieOp.AddEntry, 0, 91, AddBody(GoodKey, corrupt)));
        var response = await raw.ReadResponseAsync();
        Assert.NotNull(response);
        Assert.True(response.Status == ChecksumFailed, $"{what}: expected ChecksumFailed, got {response.Status}");
        Assert.Equal((byte)((byte)BookieOp.AddEntry | BookieProtocol.ResponseBit), response.Op);
        Assert.Equal(91UL, response.RequestId);
        Assert.Equal(PackagedEntry.LedgerId(corrupt), response.A);
        Assert.Equal(PackagedEntry.EntryId(corrupt), response.B);

        // Same connection: a ping and then the good version of the entry both succeed; the corrupt one was not stored.
        await raw.SendAsync(Frame((byte)BookieOp.Ping, 0, 92, []));
        AssertResponse(await raw.ReadResponseAsync(), BookieOp.Ping, 92, Success);
        await raw.SendAsync(Frame((byte)BookieOp.AddEntry, 0, 93, AddBody(GoodKey, entry)));
        AssertResponse(await raw.ReadResponseAsync(), BookieOp.AddEntry, 93, Success);
        await raw.SendAsync(Frame((byte)BookieOp.ReadEntry, 0, 94, ReadBody(RawLedger, 0)));
        var read = await raw.ReadResponseAsync();
        AssertResponse(read, BookieOp.ReadEntry, 94, Success);
        Assert.Equal(entry, read!.Payload);

        Assert.Equal(_baselineConnections + 1, _host.Server.ConnectionCount);
        await AssertLoggedAsync((string?)null, "Refusing an add");
        await AssertOthersUnaffectedAsync();
    }

    [Fact]
    public async Task Other_malformed_bodies_after_handshake_get_ProtocolError_and_close()
    {
        (byte Op, byte[] Body, string Log)[] cases =
        [
            ((byte)BookieOp.ReadEntry, new byte[16], "ReadEntry body malformed"),
            ((byte)BookieOp.ReadEntry, [.. new byte[16], 65, .. new byte[65]], "ReadEntry body malformed"),
            ((byte)BookieOp.ReadEntry, [.. new byte[16], 10, .. new byte[9]], "ReadEntry body malformed"),
            ((byte)BookieOp.ReadLac, new byte[7], "ReadLac body too short"),
            ((byte)BookieOp.LongPollRead, new byte[19], "LongPollRead body too short"),
            ((byte)BookieOp.Fence, new byte[8], "Fence body malformed"),
            ((byte)BookieOp.Fence, [.. new byte[8], 200, .. new byte[200]], "Fence body malformed"),
            ((byte)BookieOp.DeleteLedger, new byte[7], "DeleteLedger body too short"),
        ];
        foreach (var (op, body, log) in cases)
        {
            await using var raw = await ConnectAsync();
            await raw.HandshakeAsync(_host.BookieId);
            await raw.SendAsync(Frame(op, 0, 55, body));
            await raw.ExpectProtocolErrorThenCloseAsync(55);
            await AssertLoggedAsync(raw, log);
        }

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    // ---------------------------------------------------------------- semantically invalid values in well-formed frames

    [Fact]
    public async Task Negative_ledger_ids_never_break_the_bookie_or_other_clients()
    {
        // Well-formed frames naming ledger -1. Whatever the bookie answers, it must answer with a well-formed response or
        // close this one connection, and everything else must keep working.
        // (Reads first: a long poll or a failed fence leaves an in-memory ledger -1 behind, after which ReadLac(-1) succeeds.)
        (byte Op, byte Flags, byte[] Body)[] requests =
        [
            ((byte)BookieOp.ReadLac, 0, Int64Body(-1)),
            ((byte)BookieOp.ReadEntry, 0, ReadBody(-1, -1)),
            ((byte)BookieOp.ReadEntry, 0, ReadBody(-1, 0)),
            ((byte)BookieOp.DeleteLedger, 0, Int64Body(-1)),
            ((byte)BookieOp.Fence, 0, [.. Int64Body(-1), 0]),
            ((byte)BookieOp.ReadEntry, BookieProtocol.FlagFence, ReadBody(-1, 0)),
            ((byte)BookieOp.LongPollRead, 0, [.. Int64Body(-1), .. Int64Body(-1), 10, 0, 0, 0]),
        ];
        foreach (var (op, flags, body) in requests)
        {
            await using var raw = await ConnectAsync();
            await raw.HandshakeAsync(_host.BookieId);
            await raw.SendAsync(Frame(op, flags, 61, body));
            raw.Socket.Shutdown(SocketShutdown.Send);
            foreach (var response in ParseResponses(await raw.ReadUntilClosedAsync()))
            {
                Assert.Equal(61UL, response.RequestId);
                Assert.NotEqual(Success, response.Status);
            }
        }

        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync(allowErrorLogs: true);
    }

    [Fact]
    public async Task Negative_ledger_id_is_answered_and_the_connection_stays_usable()
    {
        await using var raw = await ConnectAsync();
        await raw.HandshakeAsync(_host.BookieId);
        await raw.SendAsync(Frame((byte)BookieOp.DeleteLedger, 0, 62, Int64Body(-1)));
        var response = await raw.ReadResponseAsync();
        Assert.NotNull(response);
        Assert.Equal(62UL, response.RequestId);
        Assert.NotEqual(Success, response.Status);

        await raw.SendAsync(Frame((byte)BookieOp.Fence, 0, 63, [.. Int64Body(-1), 0]));
        response = await raw.ReadResponseAsync();
        Assert.NotNull(response);
        Assert.Equal(63UL, response.RequestId);
        Assert.NotEqual(Success, response.Status);

        await raw.SendAsync(Frame((byte)BookieOp.Ping, 0, 64, []));
        AssertResponse(await raw.ReadResponseAsync(), BookieOp.Ping, 64, Success);
        Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Long_poll_on_an_unknown_ledger_does_not_create_it()
    {
        const long Unknown = 777_777;
        var poll = await _client.LongPollReadAsync(_host.BookieId, Unknown, 0, TimeSpan.FromMilliseconds(20));
        Assert.Equal(StatusCode.Timeout, poll.Status);
        var lac = await _client.ReadLacAsync(_host.BookieId, Unknown);
        Assert.Equal(StatusCode.NoSuchLedger, lac.Status);
    }

    // ---------------------------------------------------------------- 8. many bad clients at once

    [Fact]
    public async Task Fifty_garbage_clients_in_parallel_do_not_disturb_a_writing_client()
    {
        const int BadClients = 50;
        const int Entries = 300;
        using var goodDone = new CancellationTokenSource();
        int badConnections = 0;

        var bad = Enumerable.Range(0, BadClients).Select(i => Task.Run(async () =>
        {
            var random = new Random(1000 + i);
            int rounds = 0;
            while (rounds < 2 || (!goodDone.IsCancellationRequested && rounds < 40))
            {
                rounds++;
                Interlocked.Increment(ref badConnections);
                await RunBadClientAsync(random, (i + rounds) % 7);
            }
        })).ToArray();

        var sent = new byte[Entries][];
        try
        {
            var random = new Random(77);
            for (int batch = 0; batch < Entries; batch += 20)
            {
                var adds = new List<Task<BookieAddResult>>();
                for (int e = batch; e < batch + 20; e++)
                {
                    sent[e] = MakeEntry(GoodLedger + 1, e, random.Next(0, 8192), seed: e);
                    adds.Add(_client.AddEntryAsync(_host.BookieId, GoodKey, sent[e]).AsTask());
                }

                foreach (var result in await Task.WhenAll(adds))
                {
                    Assert.Equal(StatusCode.Success, result.Status);
                }
            }
        }
        finally
        {
            await goodDone.CancelAsync();
        }

        await Task.WhenAll(bad);
        Assert.True(badConnections >= BadClients * 2, $"only {badConnections} bad connections were made");

        for (int e = 0; e < Entries; e++)
        {
            var read = await _client.ReadEntryAsync(_host.BookieId, GoodLedger + 1, e);
            Assert.Equal(StatusCode.Success, read.Status);
            Assert.Equal(sent[e], read.Entry.ToArray());
        }

        var lac = await _client.ReadLacAsync(_host.BookieId, GoodLedger + 1);
        Assert.Equal(Entries - 1, lac.LastEntryId);
        await WaitForConnectionCountAsync(_baselineConnections);
        await AssertOthersUnaffectedAsync();
    }

    /// <summary>One misbehaving connection; returns once the bookie has closed it (fails if it does not within the timeout).</summary>
    private async Task RunBadClientAsync(Random random, int kind)
    {
        await using var raw = await ConnectAsync();
        try
        {
            switch (kind)
            {
                case 0: // random garbage
                {
                    byte[] garbage = new byte[random.Next(1, 3000)];
                    random.NextBytes(garbage);
                    await raw.SendAsync(garbage);
                    break;
                }

                case 1: // absurd length
                {
                    byte[] prefix = new byte[4];
                    BinaryPrimitives.WriteInt32LittleEndian(prefix, random.Next(2) == 0 ? int.MaxValue : BookieProtocol.MaxFrameSize + 1);
                    await raw.SendAsync(prefix);
                    break;
                }

                case 2: // truncated frame
                {
                    byte[] frame = Frame((byte)BookieOp.Handshake, 0, 1, HandshakeBody(BookieProtocol.Magic, 1, 1));
                    await raw.SendAsync(frame.AsMemory(0, random.Next(1, frame.Length)));
                    break;
                }

                case 3: // frame before the handshake
                    await raw.SendAsync(Frame((byte)BookieOp.AddEntry, 0, 3, AddBody(GoodKey, MakeEntry(GoodLedger + 1, 0, 10, seed: 0))));
                    break;
                case 4: // bad handshake
                    await raw.SendAsync(Frame((byte)BookieOp.Handshake, 0, 4, HandshakeBody(BookieProtocol.Magic, 7, 9)));
                    break;
                case 5: // good handshake, then an add with a 200-byte key
                    await raw.HandshakeAsync(_host.BookieId);
                    await raw.SendAsync(Frame((byte)BookieOp.AddEntry, 0, 5, [200, .. new byte[300]]));
                    break;
                default: // good handshake, an unknown op, a corrupt add to the good ledger, then garbage
                {
                    await raw.HandshakeAsync(_host.BookieId);
                    byte[] corrupt = MakeEntry(GoodLedger + 1, random.Next(0, 300), 50, seed: 9);
                    corrupt[^1] ^= 1;
                    byte[] garbage = new byte[random.Next(1, 500)];
                    random.NextBytes(garbage);
                    byte[] bytes = [.. Frame(0x55, 0, 6, []), .. Frame((byte)BookieOp.AddEntry, 0, 7, AddBody(GoodKey, corrupt)), .. garbage];
                    await raw.SendAsync(bytes);
                    break;
                }
            }

            raw.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The bookie hung up while we were still sending: that is one of the accepted outcomes.
        }

        await raw.ReadUntilClosedAsync();
    }

    // ---------------------------------------------------------------- shared checks

    private async Task AssertOthersUnaffectedAsync(bool allowErrorLogs = false)
    {
        // The bystander's original connection still works...
        ulong id = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
        await _bystander.SendAsync(Frame((byte)BookieOp.Ping, 0, id, []));
        var pong = await _bystander.ReadResponseAsync();
        AssertResponse(pong, BookieOp.Ping, id, Success);
        Assert.Equal((long)BookieState.Writable, pong!.A);
        // ...and so does the BookieClient (ping, add, read back).
        await AssertGoodClientWorksAsync();
        if (!allowErrorLogs)
        {
            Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Error);
        }
    }

    private async Task AssertGoodClientWorksAsync()
    {
        var ping = await _client.PingAsync(_host.BookieId);
        Assert.Equal(StatusCode.Success, ping.Status);
        Assert.Equal(BookieState.Writable, ping.State);

        long entryId = _nextGoodEntry++;
        byte[] entry = MakeEntry(GoodLedger, entryId, 200 + (int)entryId, seed: (int)entryId);
        var add = await _client.AddEntryAsync(_host.BookieId, GoodKey, entry);
        Assert.Equal(StatusCode.Success, add.Status);
        Assert.Equal(GoodLedger, add.LedgerId);
        Assert.Equal(entryId, add.EntryId);

        var read = await _client.ReadEntryAsync(_host.BookieId, GoodLedger, entryId);
        Assert.Equal(StatusCode.Success, read.Status);
        Assert.Equal(entry, read.Entry.ToArray());
        for (long e = 0; e < entryId; e++)
        {
            var earlier = await _client.ReadEntryAsync(_host.BookieId, GoodLedger, e);
            Assert.Equal(StatusCode.Success, earlier.Status);
        }
    }

    private async Task WaitForConnectionCountAsync(int expected)
    {
        var deadline = DateTime.UtcNow + IoTimeout;
        while (_host.Server.ConnectionCount != expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(_host.Server.ConnectionCount == expected,
            $"the server still counts {_host.Server.ConnectionCount} connections, expected {expected}");
    }

    private Task AssertLoggedAsync(RawConnection raw, string fragment) => AssertLoggedAsync(raw.LocalEndPoint, fragment);

    private async Task AssertLoggedAsync(string? remote, string fragment)
    {
        var deadline = DateTime.UtcNow + IoTimeout;
        while (true)
        {
            if (_logs.Entries.Any(e => e.Level >= LogLevel.Warning && e.Message.Contains(fragment, StringComparison.Ordinal)
                && (remote is null || e.Message.Contains(remote, StringComparison.Ordinal))))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline,
                $"no warning containing '{fragment}' for {remote ?? "any connection"}; logged: {string.Join(" | ", _logs.Entries.Select(e => e.Message))}");
            await Task.Delay(10);
        }
    }

    private async Task<RawConnection> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(IoTimeout);
            await socket.ConnectAsync(_host.Server.Endpoint, timeout.Token);
            return new RawConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void AssertResponse(Response? response, BookieOp op, ulong requestId, int status)
    {
        Assert.NotNull(response);
        Assert.Equal(requestId, response.RequestId);
        Assert.Equal(status, response.Status);
        Assert.Equal((byte)((byte)op | BookieProtocol.ResponseBit), response.Op);
    }

    // ---------------------------------------------------------------- framing by hand

    /// <summary>What the bookie must make of the first frame of <paramref name="bytes"/> sent before any handshake.</summary>
    private static (FirstFrame Verdict, ulong RequestId) PredictFirstFrame(byte[] bytes)
    {
        if (bytes.Length < 4)
        {
            return (FirstFrame.Incomplete, 0);
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        if (length < BookieProtocol.HeaderSize || length > BookieProtocol.MaxFrameSize)
        {
            return (FirstFrame.BadLength, 0);
        }

        if (bytes.Length < 4 + length)
        {
            return (FirstFrame.Incomplete, 0);
        }

        // A whole frame: not a handshake, or a handshake with random (hence wrong) magic: refused with its request id.
        return (FirstFrame.Whole, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
    }

    private enum FirstFrame
    {
        Incomplete,
        BadLength,
        Whole,
    }

    private static byte[] Frame(byte op, byte flags, ulong requestId, ReadOnlySpan<byte> body)
    {
        byte[] frame = new byte[4 + 12 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, 12 + body.Length);
        frame[4] = op;
        frame[5] = flags;
        // bytes 6..7: reserved, zero
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8), requestId);
        body.CopyTo(frame.AsSpan(16));
        return frame;
    }

    private static byte[] HandshakeBody(uint magic, ushort min, ushort max)
    {
        byte[] body = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, magic);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(4), min);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(6), max);
        return body;
    }

    private static byte[] AddBody(byte[] key, byte[] entry) => [(byte)key.Length, .. key, .. entry];

    private static byte[] ReadBody(long ledgerId, long entryId) => [.. Int64Body(ledgerId), .. Int64Body(entryId), 0];

    private static byte[] Int64Body(long value)
    {
        byte[] body = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(body, value);
        return body;
    }

    private static byte[] MakeEntry(long ledgerId, long entryId, int payloadLength, int seed)
    {
        byte[] payload = new byte[payloadLength];
        new Random(seed).NextBytes(payload);
        byte[] entry = new byte[PackagedEntry.SizeOf(payloadLength)];
        PackagedEntry.Write(entry, ledgerId, entryId, entryId - 1, 0, payload);
        return entry;
    }

    /// <summary>Splits a byte stream of responses into frames; fails on anything that is not a whole, well-formed response.</summary>
    private static List<Response> ParseResponses(byte[] bytes)
    {
        var responses = new List<Response>();
        int offset = 0;
        while (offset < bytes.Length)
        {
            Assert.True(bytes.Length - offset >= 4, "a partial length prefix from the bookie");
            int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
            Assert.InRange(length, ResponseHeaderAndFixed, BookieProtocol.MaxFrameSize);
            Assert.True(bytes.Length - offset - 4 >= length, "a partial response frame from the bookie");
            responses.Add(Response.Parse(bytes.AsSpan(offset + 4, length)));
            offset += 4 + length;
        }

        return responses;
    }

    private sealed record Response(byte Op, byte Flags, ulong RequestId, int Status, long A, long B, long C, byte[] Payload)
    {
        public static Response Parse(ReadOnlySpan<byte> frame)
        {
            Assert.True(frame.Length >= ResponseHeaderAndFixed, $"a response of {frame.Length} bytes is shorter than {ResponseHeaderAndFixed}");
            Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(frame[2..])); // reserved
            return new Response(frame[0], frame[1], BinaryPrimitives.ReadUInt64LittleEndian(frame[4..]),
                BinaryPrimitives.ReadInt32LittleEndian(frame[12..]), BinaryPrimitives.ReadInt64LittleEndian(frame[16..]),
                BinaryPrimitives.ReadInt64LittleEndian(frame[24..]), BinaryPrimitives.ReadInt64LittleEndian(frame[32..]),
                frame[ResponseHeaderAndFixed..].ToArray());
        }
    }

    /// <summary>A client socket speaking the protocol by hand.</summary>
    private sealed class RawConnection(Socket socket) : IAsyncDisposable
    {
        public Socket Socket { get; } = socket;

        /// <summary>How the bookie names this connection in its logs.</summary>
        public string LocalEndPoint { get; } = socket.LocalEndPoint!.ToString()!;

        public async Task SendAsync(ReadOnlyMemory<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                int sent = await Socket.SendAsync(bytes, SocketFlags.None);
                bytes = bytes[sent..];
            }
        }

        public async Task HandshakeAsync(string bookieId)
        {
            await SendAsync(Frame((byte)BookieOp.Handshake, 0, 1, HandshakeBody(BookieProtocol.Magic, BookieProtocol.Version, BookieProtocol.Version)));
            var response = await ReadResponseAsync();
            AssertResponse(response, BookieOp.Handshake, 1, Success);
            Assert.Equal(BookieProtocol.Version, response!.A);
            Assert.Equal(bookieId, Encoding.UTF8.GetString(response.Payload));
        }

        /// <summary>Reads one response frame; null if the bookie closed (or reset) the connection before sending one.</summary>
        public async Task<Response?> ReadResponseAsync()
        {
            byte[] prefix = new byte[4];
            if (!await ReadExactlyAsync(prefix))
            {
                return null;
            }

            int length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            Assert.InRange(length, ResponseHeaderAndFixed, BookieProtocol.MaxFrameSize);
            byte[] frame = new byte[length];
            Assert.True(await ReadExactlyAsync(frame), "the bookie closed the connection inside a response frame");
            return Response.Parse(frame);
        }

        /// <summary>Expects one ProtocolError response (with the given request id), then the connection's end and nothing else.</summary>
        public async Task ExpectProtocolErrorThenCloseAsync(ulong requestId)
        {
            var response = await ReadResponseAsync();
            Assert.True(response is not null, "the bookie closed the connection without a ProtocolError response");
            Assert.Equal(ProtocolError, response.Status);
            Assert.Equal(requestId, response.RequestId);
            Assert.True((response.Op & BookieProtocol.ResponseBit) != 0, $"response op {response.Op:x2} lacks the response bit");
            byte[] rest = await ReadUntilClosedAsync();
            Assert.True(rest.Length == 0, $"the bookie sent {rest.Length} more bytes after its ProtocolError");
        }

        /// <summary>
        /// After an out-of-range length prefix: the bookie must close the connection and send nothing but (at most) one
        /// ProtocolError response with request id 0. (It should always send that response; today it never does: see
        /// <see cref="Length_prefix_out_of_range_is_answered_with_ProtocolError"/>.)
        /// </summary>
        public async Task ExpectLengthRefusalThenCloseAsync()
        {
            byte[] received = await ReadUntilClosedAsync();
            var responses = ParseResponses(received);
            Assert.True(responses.Count <= 1, $"the bookie sent {responses.Count} responses after a bad length prefix");
            foreach (var response in responses)
            {
                Assert.Equal(ProtocolError, response.Status);
                Assert.Equal(0UL, response.RequestId);
            }
        }

        /// <summary>Reads until the bookie closes the connection; fails if it stays open longer than the timeout.</summary>
        public async Task<byte[]> ReadUntilClosedAsync()
        {
            using var timeout = new CancellationTokenSource(IoTimeout);
            var received = new MemoryStream();
            byte[] buffer = new byte[64 * 1024];
            while (true)
            {
                int n;
                try
                {
                    n = await Socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    return received.ToArray();
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"the bookie did not close the connection within {IoTimeout.TotalSeconds} s ({received.Length} bytes received)");
                    throw;
                }

                if (n == 0)
                {
                    return received.ToArray();
                }

                received.Write(buffer, 0, n);
            }
        }

        /// <summary>Checks that nothing arrives (and the connection stays open) for a while.</summary>
        public async Task ExpectNothingAsync(TimeSpan wait)
        {
            await Task.Delay(wait);
            Assert.Equal(0, Socket.Available);
            Assert.False(Socket.Poll(0, SelectMode.SelectRead), "the bookie answered or closed while the frame was incomplete");
        }

        private async Task<bool> ReadExactlyAsync(byte[] destination)
        {
            using var timeout = new CancellationTokenSource(IoTimeout);
            int read = 0;
            while (read < destination.Length)
            {
                int n;
                try
                {
                    n = await Socket.ReceiveAsync(destination.AsMemory(read), SocketFlags.None, timeout.Token);
                }
                catch (SocketException e) when (read == 0 && e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    return false;
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"no response from the bookie within {IoTimeout.TotalSeconds} s");
                    throw;
                }

                if (n == 0)
                {
                    return read == 0 ? false : throw new Xunit.Sdk.XunitException("the bookie closed the connection inside a frame");
                }

                read += n;
            }

            return true;
        }

        public ValueTask DisposeAsync()
        {
            Socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Keeps every log line, formatted, for assertions.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<LogEntry> _entries = new();

        public IReadOnlyCollection<LogEntry> Entries => _entries;

        public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, _entries);

        public void Dispose()
        {
        }

        private sealed class CapturingLogger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => entries.Enqueue(new LogEntry(category, logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
        }
    }

    private sealed record LogEntry(string Category, LogLevel Level, string Message);
}
