using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Server;

/// <summary>
/// One client connection of a <see cref="BookieServer"/>: a read loop parses pipelined frames straight from the socket's
/// pipe and hands them to the <see cref="Bookie"/>; responses (which may complete in any order, from the journal thread,
/// long-poll timers or here) are queued as values and written by a single writer loop, many per flush.
/// </summary>
internal sealed class BookieConnection : IResponseSink
{
    private const int MaxInflight = 16_384;

    private readonly Bookie _bookie;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly string _remote;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Channel<BookieResponse> _responses = Channel.CreateUnbounded<BookieResponse>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });
    private readonly SemaphoreSlim _slots = new(MaxInflight, MaxInflight);
    private readonly PooledBufferWriter _readBuffer = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _scratch = [];
    private bool _handshaken;

    public BookieConnection(Bookie bookie, Socket socket, ILogger logger)
    {
        _bookie = bookie;
        _socket = socket;
        _logger = logger;
        _remote = socket.RemoteEndPoint?.ToString() ?? "?";
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 256 * 1024, minimumReadSize: 64 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
    }

    /// <summary>Completes when the connection has closed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Closes the connection now.</summary>
    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        _input.CancelPendingRead();
    }

    /// <summary>How long a new connection may take to complete the handshake before it is closed.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var writer = WriteLoopAsync();
        using var handshakeTimer = new Timer(static s =>
        {
            var connection = (BookieConnection)s!;
            if (!connection._handshaken)
            {
                connection._logger.LogWarning("Closing connection from {Remote}: no handshake within {Timeout}", connection._remote, HandshakeTimeout);
                connection.Abort();
            }
        }, this, HandshakeTimeout, Timeout.InfiniteTimeSpan);
        try
        {
            await ReadLoopAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Connection from {Remote} failed", _remote);
        }
        finally
        {
            _responses.Writer.TryComplete();
            await Quietly(async () => await writer);
            await Quietly(async () => await _output.CompleteAsync());
            await Quietly(async () => await _input.CompleteAsync());
            await Quietly(() =>
            {
                _stream.Dispose();
                return Task.CompletedTask;
            });
            DrainResponses();
            _completion.TrySetResult();
        }
    }

    /// <summary>Runs a step of closing a connection; a failure there must not stop the other steps.</summary>
    private async Task Quietly(Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Closing the connection from {Remote} failed", _remote);
        }
    }

    public void Send(in BookieResponse response)
    {
        if (!_responses.Writer.TryWrite(response))
        {
            response.ReleasePayload();
        }
    }

    public void OnJournalComplete(in JournalCompletion completion, Exception? error) => _bookie.CompleteJournaled(this, completion, error);

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken);
            if (result.IsCanceled)
            {
                return;
            }

            var buffer = result.Buffer;
            try
            {
                while (TryTakeFrame(ref buffer, out var frame))
                {
                    if (!_slots.Wait(0))
                    {
                        await _slots.WaitAsync(cancellationToken);
                    }

                    var verdict = Process(frame, out ulong requestId);
                    while (verdict == Verdict.WaitForSpace)
                    {
                        verdict = await WaitAndRetryAddAsync(frame, cancellationToken);
                    }

                    if (verdict == Verdict.Close)
                    {
                        return;
                    }
                }

                if (result.IsCompleted)
                {
                    if (buffer.Length > 0)
                    {
                        Violation(0, $"connection closed inside a frame ({buffer.Length} bytes left)", respond: false, slotted: false);
                    }

                    return;
                }
            }
            catch (WireProtocolException e)
            {
                // The frame was refused before it took an in-flight slot.
                Violation(0, e.Message, respond: true, slotted: false);
                return;
            }
            finally
            {
                _input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <summary>Cuts one whole frame (after its length prefix) off the front of <paramref name="buffer"/>.</summary>
    private static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        if (buffer.Length < BookieProtocol.LengthPrefixSize)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[BookieProtocol.LengthPrefixSize];
        buffer.Slice(0, BookieProtocol.LengthPrefixSize).CopyTo(prefix);
        int length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        if (length < BookieProtocol.HeaderSize || length > BookieProtocol.MaxFrameSize)
        {
            throw new WireProtocolException(
                $"frame length {length} is outside [{BookieProtocol.HeaderSize}, {BookieProtocol.MaxFrameSize}]");
        }

        if (buffer.Length < BookieProtocol.LengthPrefixSize + length)
        {
            return false;
        }

        frame = buffer.Slice(BookieProtocol.LengthPrefixSize, length);
        buffer = buffer.Slice(frame.End);
        return true;
    }

    private enum Verdict
    {
        Continue,
        WaitForSpace,
        Close,
    }

    private Verdict Process(in ReadOnlySequence<byte> frame, out ulong requestId)
    {
        ReadOnlySpan<byte> span = frame.IsSingleSegment ? frame.FirstSpan : Flatten(frame);
        var op = (BookieOp)span[0];
        byte flags = span[1];
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(span[4..]);
        ReadOnlySpan<byte> body = span[BookieProtocol.HeaderSize..];

        if (!_handshaken && op != BookieOp.Handshake)
        {
            return Violation(requestId, $"{op} before the handshake", respond: true);
        }

        if (op is BookieOp.ReadEntry or BookieOp.ReadLac or BookieOp.LongPollRead or BookieOp.Fence or BookieOp.DeleteLedger
            && body.Length >= 8 && BinaryPrimitives.ReadInt64LittleEndian(body) < 0)
        {
            Send(new BookieResponse(op, requestId, StatusCode.BadRequest, BinaryPrimitives.ReadInt64LittleEndian(body)));
            return Verdict.Continue;
        }

        if (op is BookieOp.ReadEntry or BookieOp.LongPollRead && body.Length >= 16
            && BinaryPrimitives.ReadInt64LittleEndian(body[8..]) < (op == BookieOp.ReadEntry ? -1 : 0))
        {
            Send(new BookieResponse(op, requestId, StatusCode.BadRequest, BinaryPrimitives.ReadInt64LittleEndian(body), BinaryPrimitives.ReadInt64LittleEndian(body[8..])));
            return Verdict.Continue;
        }

        switch (op)
        {
            case BookieOp.Handshake:
                return Handshake(requestId, body);
            case BookieOp.AddEntry:
                return Add(requestId, flags, body);
            case BookieOp.ReadEntry:
                return Read(requestId, flags, body);
            case BookieOp.ReadLac:
            {
                if (body.Length < 8)
                {
                    return Violation(requestId, "ReadLac body too short", respond: true);
                }

                long ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
                var status = _bookie.ReadLac(ledgerId, out long lac, out long last);
                Send(new BookieResponse(op, requestId, status, ledgerId, lac, last));
                return Verdict.Continue;
            }

            case BookieOp.LongPollRead:
            {
                if (body.Length < 20)
                {
                    return Violation(requestId, "LongPollRead body too short", respond: true);
                }

                long ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
                long entryId = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
                uint timeoutMs = BinaryPrimitives.ReadUInt32LittleEndian(body[16..]);
                _bookie.LongPoll(ledgerId, entryId, TimeSpan.FromMilliseconds(timeoutMs), this, requestId);
                return Verdict.Continue;
            }

            case BookieOp.Fence:
            {
                if (body.Length < 9 || body.Length < 9 + body[8] || body[8] > BookieProtocol.MaxMasterKeyLength)
                {
                    return Violation(requestId, "Fence body malformed", respond: true);
                }

                long ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
                var status = _bookie.Fence(ledgerId, body.Slice(9, body[8]), this, requestId, BookieOp.Fence, -1);
                if (status != StatusCode.Success)
                {
                    Send(new BookieResponse(op, requestId, status, ledgerId, -1, -1));
                }

                return Verdict.Continue;
            }

            case BookieOp.DeleteLedger:
            {
                if (body.Length < 8)
                {
                    return Violation(requestId, "DeleteLedger body too short", respond: true);
                }

                long ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
                Send(new BookieResponse(op, requestId, _bookie.DeleteLedger(ledgerId), ledgerId));
                return Verdict.Continue;
            }

            case BookieOp.Ping:
                Send(new BookieResponse(op, requestId, StatusCode.Success, (long)_bookie.State));
                return Verdict.Continue;
            default:
                _logger.LogWarning("Unknown operation {Op} from {Remote}", (byte)op, _remote);
                Send(new BookieResponse(op, requestId, StatusCode.BadRequest));
                return Verdict.Continue;
        }
    }

    private Verdict Handshake(ulong requestId, ReadOnlySpan<byte> body)
    {
        if (body.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(body) != BookieProtocol.Magic)
        {
            return Violation(requestId, "handshake without the DLBK magic", respond: true);
        }

        ushort min = BinaryPrimitives.ReadUInt16LittleEndian(body[4..]);
        ushort max = BinaryPrimitives.ReadUInt16LittleEndian(body[6..]);
        if (min > BookieProtocol.Version || max < BookieProtocol.Version)
        {
            return Violation(requestId, $"client speaks protocol versions {min}..{max}, this bookie speaks {BookieProtocol.Version}", respond: true);
        }

        _handshaken = true;
        byte[] id = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(_bookie.Id.Length));
        int idLength = Encoding.UTF8.GetBytes(_bookie.Id, id);
        Send(new BookieResponse(BookieOp.Handshake, requestId, StatusCode.Success, BookieProtocol.Version, (long)_bookie.State, 0, id, idLength));
        return Verdict.Continue;
    }

    private Verdict Add(ulong requestId, byte flags, ReadOnlySpan<byte> body)
    {
        if (body.Length < 1 || body[0] > BookieProtocol.MaxMasterKeyLength || body.Length < 1 + body[0] + PackagedEntry.HeaderSize)
        {
            return Violation(requestId, "AddEntry body malformed", respond: true);
        }

        var key = body.Slice(1, body[0]);
        var entry = body[(1 + body[0])..];
        var outcome = _bookie.AddEntry(key, entry, (flags & BookieProtocol.FlagRecoveryAdd) != 0, this, requestId, Stopwatch.GetTimestamp(), out var status);
        switch (outcome)
        {
            case AddOutcome.WaitForSpace:
                _slots.Release();
                return Verdict.WaitForSpace;
            case AddOutcome.Rejected:
                _bookie.Metrics.RecordAddError();
                Send(new BookieResponse(BookieOp.AddEntry, requestId, status, PackagedEntry.LedgerId(entry), PackagedEntry.EntryId(entry)));
                break;
        }

        return Verdict.Continue;
    }

    private async Task<Verdict> WaitAndRetryAddAsync(ReadOnlySequence<byte> frame, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_bookie.MaxAddThrottle);
        bool timedOut = false;
        try
        {
            await _bookie.WaitForAddSpaceAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            timedOut = true;
        }

        await _slots.WaitAsync(cancellationToken);
        if (timedOut)
        {
            ReadOnlySpan<byte> span = frame.IsSingleSegment ? frame.FirstSpan : Flatten(frame);
            ulong requestId = BinaryPrimitives.ReadUInt64LittleEndian(span[4..]);
            var body = span[BookieProtocol.HeaderSize..];
            var entry = body[(1 + body[0])..];
            Send(new BookieResponse(BookieOp.AddEntry, requestId, StatusCode.TooManyRequests, PackagedEntry.LedgerId(entry), PackagedEntry.EntryId(entry)));
            return Verdict.Continue;
        }

        return Process(frame, out _);
    }

    private Verdict Read(ulong requestId, byte flags, ReadOnlySpan<byte> body)
    {
        if (body.Length < 17 || body.Length < 17 + body[16] || body[16] > BookieProtocol.MaxMasterKeyLength)
        {
            return Violation(requestId, "ReadEntry body malformed", respond: true);
        }

        long ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
        long entryId = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        if ((flags & BookieProtocol.FlagFence) != 0)
        {
            var status = _bookie.Fence(ledgerId, body.Slice(17, body[16]), this, requestId, BookieOp.ReadEntry, entryId);
            if (status != StatusCode.Success)
            {
                Send(new BookieResponse(BookieOp.ReadEntry, requestId, status, ledgerId, entryId, -1));
            }

            return Verdict.Continue;
        }

        var readStatus = _bookie.ReadEntry(ledgerId, ref entryId, _readBuffer, out long lac);
        if (readStatus == StatusCode.Success)
        {
            byte[] payload = _readBuffer.Detach(out int length);
            Send(new BookieResponse(BookieOp.ReadEntry, requestId, readStatus, ledgerId, entryId, lac, payload, length));
        }
        else
        {
            _readBuffer.Reset();
            Send(new BookieResponse(BookieOp.ReadEntry, requestId, readStatus, ledgerId, entryId, lac));
        }

        return Verdict.Continue;
    }

    private Verdict Violation(ulong requestId, string problem, bool respond, bool slotted = true)
    {
        _logger.LogWarning("Closing connection from {Remote}: protocol violation: {Problem}", _remote, problem);
        if (respond)
        {
            Send(new BookieResponse(0, requestId, StatusCode.ProtocolError, Unslotted: !slotted));
        }
        else if (slotted)
        {
            _slots.Release();
        }

        return Verdict.Close;
    }

    private ReadOnlySpan<byte> Flatten(in ReadOnlySequence<byte> frame)
    {
        if (_scratch.Length < frame.Length)
        {
            if (_scratch.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
            }

            _scratch = ArrayPool<byte>.Shared.Rent((int)frame.Length);
        }

        frame.CopyTo(_scratch);
        return _scratch.AsSpan(0, (int)frame.Length);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _responses.Reader;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                while (reader.TryRead(out var response))
                {
                    try
                    {
                        WriteResponse(response);
                    }
                    finally
                    {
                        response.ReleasePayload();
                        if (!response.Unslotted)
                        {
                            _slots.Release();
                        }
                    }
                }

                var flush = await _output.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer went away; the read loop ends the connection.
        }
    }

    private void WriteResponse(in BookieResponse response)
    {
        int bodyLength = BookieProtocol.ResponseFixedSize + response.PayloadLength;
        int total = BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize + bodyLength;
        Span<byte> span = _output.GetSpan(Math.Min(total, 64 * 1024));
        if (span.Length >= total)
        {
            Encode(span, response, bodyLength);
            _output.Advance(total);
            return;
        }

        // A large entry: header and fixed fields first, then the payload in pieces.
        int fixedPart = total - response.PayloadLength;
        Span<byte> head = _output.GetSpan(fixedPart);
        EncodeFixed(head, response, bodyLength);
        _output.Advance(fixedPart);
        _output.Write(response.Payload.AsSpan(0, response.PayloadLength));
    }

    private static void Encode(Span<byte> span, in BookieResponse response, int bodyLength)
    {
        int offset = EncodeFixed(span, response, bodyLength);
        response.Payload.AsSpan(0, response.PayloadLength).CopyTo(span[offset..]);
    }

    private static int EncodeFixed(Span<byte> span, in BookieResponse response, int bodyLength)
    {
        int offset = BookieProtocol.WriteHeader(span, bodyLength, (byte)((byte)response.Op | BookieProtocol.ResponseBit), 0, response.RequestId);
        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], (int)response.Status);
        BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 4)..], response.A);
        BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 12)..], response.B);
        BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 20)..], response.C);
        return offset + BookieProtocol.ResponseFixedSize;
    }

    private void DrainResponses()
    {
        while (_responses.Reader.TryRead(out var response))
        {
            response.ReleasePayload();
        }

        if (_scratch.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = [];
        }
    }
}
