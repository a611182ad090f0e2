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

    /// <summary>A flattening buffer larger than this is given back after each use instead of being kept for the connection's life.</summary>
    private const int KeptScratchBytes = 64 << 10;

    private readonly BookieServer _server;
    private readonly BookieServerOptions _limits;
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
    private readonly CancellationTokenSource _aborted = new();
    private byte[] _scratch = [];
    private volatile bool _handshaken;

    // The unfinished frame at the front of the input: its size (counted in the server's pending bytes) and since when it waits.
    private long _pendingBytes;
    private long _pendingSince;
    private long _startedAt;

    public BookieConnection(BookieServer server, Bookie bookie, Socket socket, ILogger logger)
    {
        _server = server;
        _limits = server.Options;
        _startedAt = _limits.TimeProvider.GetTimestamp(); // before the server's watchdog can see the connection
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
        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var writer = WriteLoopAsync();
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
            long dropped = PendingBytes;
            SetPending(0, 0);
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
            _aborted.Dispose();
            if (dropped >= _limits.LargePendingFrameBytes)
            {
                // Its buffers are back in the pool now; the server may give the memory back to the system.
                _server.OnLargeFrameDropped(dropped);
            }

            _completion.TrySetResult();
        }
    }

    /// <summary>Closes a connection that has not handshaken in time, or whose unfinished frame waits too long (called by the server's watchdog).</summary>
    internal void CheckTimeouts()
    {
        var time = _limits.TimeProvider;
        if (!_handshaken && time.GetElapsedTime(_startedAt) >= _limits.HandshakeTimeout)
        {
            _logger.LogWarning("Closing connection from {Remote}: no handshake within {Timeout}", _remote, _limits.HandshakeTimeout);
            Abort();
            return;
        }

        long since = Interlocked.Read(ref _pendingSince);
        if (since != 0 && time.GetElapsedTime(since) >= _limits.FrameReadTimeout)
        {
            _logger.LogWarning("Closing connection from {Remote}: a frame stayed unfinished for {Timeout} ({Bytes} bytes received)",
                _remote, _limits.FrameReadTimeout, Interlocked.Read(ref _pendingBytes));
            Abort();
        }
    }

    /// <summary>Records the unfinished frame at the front of the input (0 bytes: none) in this connection and the server's total.</summary>
    private void SetPending(long bytes, long now, bool progressed = false)
    {
        long previous = Interlocked.Exchange(ref _pendingBytes, bytes);
        if (bytes != previous)
        {
            _server.AddPendingFrameBytes(bytes - previous);
        }

        if (bytes == 0)
        {
            Interlocked.Exchange(ref _pendingSince, 0);
        }
        else if (previous == 0 || progressed)
        {
            // A new unfinished frame: its clock starts now (a client that keeps completing frames is never timed out).
            Interlocked.Exchange(ref _pendingSince, now);
        }
    }

    /// <summary>Bytes of the unfinished frame at the front of the input (0: none).</summary>
    internal long PendingBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>When the unfinished frame started waiting (a <see cref="TimeProvider"/> timestamp).</summary>
    internal long PendingSince => Interlocked.Read(ref _pendingSince);

    /// <summary>Whether the connection is closing.</summary>
    internal bool IsAborted => _aborted.IsCancellationRequested;

    /// <summary>Closes the connection to bring the server's unfinished-frame bytes back under its budget.</summary>
    internal void Evict(long serverPending)
    {
        _logger.LogWarning(
            "Closing connection from {Remote}: its unfinished frame ({Bytes} bytes) is the oldest while unfinished frames hold {Total} bytes, over the limit of {Limit}",
            _remote, PendingBytes, serverPending, _limits.MaxPendingFrameBytes);
        Abort();
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
            if (result.IsCanceled || _aborted.IsCancellationRequested)
            {
                return;
            }

            var buffer = result.Buffer;
            bool progressed = false;
            try
            {
                while (TryTakeFrame(ref buffer, out var frame))
                {
                    progressed = true;
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

                SetPending(buffer.Length, _limits.TimeProvider.GetTimestamp(), progressed);
                if (buffer.Length >= _limits.LargePendingFrameBytes)
                {
                    _server.EnforcePendingBudget();
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
    private static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame) =>
        BookieFraming.TryTakeFrame(ref buffer, BookieProtocol.HeaderSize, out frame);

    private enum Verdict
    {
        Continue,
        WaitForSpace,
        Close,
    }

    private Verdict Process(in ReadOnlySequence<byte> frame, out ulong requestId)
    {
        ReadOnlySpan<byte> span = frame.IsSingleSegment ? frame.FirstSpan : Flatten(frame);
        try
        {
            var verdict = BookieRequest.Decode(span, out var request, out string? problem);
            requestId = request.RequestId;
            if (!_handshaken && request.Op != BookieOp.Handshake)
            {
                return Violation(requestId, $"{request.Op} before the handshake", respond: true);
            }

            switch (verdict)
            {
                case RequestVerdict.Malformed:
                    return Violation(requestId, problem!, respond: true);
                case RequestVerdict.BadRequest:
                    if (request.Op is < BookieOp.Handshake or > BookieOp.Ping)
                    {
                        _logger.LogWarning("Unknown operation {Op} from {Remote}", (byte)request.Op, _remote);
                    }

                    Send(new BookieResponse(request.Op, requestId, StatusCode.BadRequest, request.LedgerId, request.EntryId));
                    return Verdict.Continue;
            }

            return Serve(request);
        }
        finally
        {
            ReleaseLargeScratch();
        }
    }

    private Verdict Serve(in BookieRequest request)
    {
        ulong requestId = request.RequestId;
        switch (request.Op)
        {
            case BookieOp.Handshake:
                return Handshake(requestId);
            case BookieOp.AddEntry:
                return Add(request);
            case BookieOp.ReadEntry:
                return Read(request);
            case BookieOp.ReadLac:
            {
                var status = _bookie.ReadLac(request.LedgerId, out long lac, out long last);
                Send(new BookieResponse(request.Op, requestId, status, request.LedgerId, lac, last));
                return Verdict.Continue;
            }

            case BookieOp.LongPollRead:
                _bookie.LongPoll(request.LedgerId, request.EntryId, TimeSpan.FromMilliseconds(request.TimeoutMs), this, requestId);
                return Verdict.Continue;
            case BookieOp.Fence:
            {
                var status = _bookie.Fence(request.LedgerId, request.MasterKey, this, requestId, BookieOp.Fence, -1);
                if (status != StatusCode.Success)
                {
                    Send(new BookieResponse(request.Op, requestId, status, request.LedgerId, -1, -1));
                }

                return Verdict.Continue;
            }

            case BookieOp.DeleteLedger:
                Send(new BookieResponse(request.Op, requestId, _bookie.DeleteLedger(request.LedgerId), request.LedgerId));
                return Verdict.Continue;
            case BookieOp.Ping:
                Send(new BookieResponse(request.Op, requestId, StatusCode.Success, (long)_bookie.State));
                return Verdict.Continue;
            default:
                // BookieRequest.Decode already turns unknown operations into BadRequest; kept so a new op without a handler is refused too.
                Send(new BookieResponse(request.Op, requestId, StatusCode.BadRequest));
                return Verdict.Continue;
        }
    }

    private Verdict Handshake(ulong requestId)
    {
        _handshaken = true;
        byte[] id = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(_bookie.Id.Length));
        int idLength = Encoding.UTF8.GetBytes(_bookie.Id, id);
        Send(new BookieResponse(BookieOp.Handshake, requestId, StatusCode.Success, BookieProtocol.Version, (long)_bookie.State, 0, id, idLength));
        return Verdict.Continue;
    }

    private Verdict Add(in BookieRequest request)
    {
        ulong requestId = request.RequestId;
        var entry = request.Entry;
        var outcome = _bookie.AddEntry(request.MasterKey, entry, (request.Flags & BookieProtocol.FlagRecoveryAdd) != 0, this, requestId,
            Stopwatch.GetTimestamp(), out var status);
        switch (outcome)
        {
            case AddOutcome.WaitForSpace:
                _slots.Release();
                return Verdict.WaitForSpace;
            case AddOutcome.Rejected:
                _bookie.Metrics.RecordAddError();
                Send(new BookieResponse(BookieOp.AddEntry, requestId, status, request.LedgerId, request.EntryId));
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
            _ = BookieRequest.Decode(span, out var request, out _);
            Send(new BookieResponse(BookieOp.AddEntry, request.RequestId, StatusCode.TooManyRequests, request.LedgerId, request.EntryId));
            ReleaseLargeScratch();
            return Verdict.Continue;
        }

        return Process(frame, out _);
    }

    private Verdict Read(in BookieRequest request)
    {
        ulong requestId = request.RequestId;
        long ledgerId = request.LedgerId;
        long entryId = request.EntryId;
        if ((request.Flags & BookieProtocol.FlagFence) != 0)
        {
            var status = _bookie.Fence(ledgerId, request.MasterKey, this, requestId, BookieOp.ReadEntry, entryId);
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

    /// <summary>Gives a large flattening buffer back to the pool (a rare multi-segment big frame must not pin 1 MiB per connection).</summary>
    private void ReleaseLargeScratch()
    {
        if (_scratch.Length > KeptScratchBytes)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = [];
        }
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

    private static int EncodeFixed(Span<byte> span, in BookieResponse response, int bodyLength) =>
        BookieFraming.WriteResponseHead(span, response.Op, response.RequestId, response.Status, response.A, response.B, response.C,
            bodyLength - BookieProtocol.ResponseFixedSize);

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
