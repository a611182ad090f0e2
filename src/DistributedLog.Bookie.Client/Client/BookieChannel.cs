using System.Runtime.CompilerServices;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Client;

/// <summary>
/// One multiplexed connection to one bookie. Callers queue whole frames (an add's entry by reference to its pooled
/// buffer, not copied) in an <see cref="OutboundQueue"/>, which hands everything queued to the socket in one gather send;
/// a receive loop matches responses to pending requests by id. A broken connection fails every pending request
/// with <c>BookieUnavailable</c> and is replaced by the <see cref="BookieClient"/> on next use.
/// </summary>
internal sealed class BookieChannel : IAsyncDisposable
{
    private readonly BookieClientOptions _options;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly OutboundQueue _outbound;
    private readonly object _pendingGate = new();
    private readonly Dictionary<ulong, PendingRequest> _pending = [];
    private readonly ConcurrentBag<PendingRequest> _pool = [];
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _closed = new();
    private ulong _nextRequestId;
    private Task _loops = Task.CompletedTask;

    private BookieChannel(string bookieId, Socket socket, BookieClientOptions options, ILogger logger)
    {
        BookieId = bookieId;
        _socket = socket;
        _options = options;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxInflightPerConnection, options.MaxInflightPerConnection);
        _outbound = new OutboundQueue(socket, Close);
    }

    public string BookieId { get; }

    /// <summary>The state the bookie reported in the handshake.</summary>
    public BookieState HandshakeState { get; private set; }

    public bool IsClosed => _closed.IsCancellationRequested;

    public static async Task<BookieChannel> ConnectAsync(string bookieId, EndPoint endpoint, BookieClientOptions options, ILogger logger,
        CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var channel = new BookieChannel(bookieId, socket, options, logger);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await socket.ConnectAsync(endpoint, timeout.Token);
            channel.StartLoops();
            var reply = await channel.SendAsync(BookieOp.Handshake, 0, BookieRequest.HandshakeBodyLength, static (span, _) => BookieRequest.WriteHandshakeBody(span),
                0, options.ConnectTimeout, timeout.Token);
            if (reply.Status != StatusCode.Success)
            {
                throw new BookieException(reply.Status, $"Bookie {bookieId} refused the handshake ({reply.Status}).");
            }

            channel.HandshakeState = (BookieState)reply.B;
            string servedId = reply.Payload is null ? "" : Encoding.UTF8.GetString(reply.Payload);
            if (servedId != bookieId)
            {
                logger.LogDebug("Bookie at {Endpoint} calls itself {Served} (asked for {Asked})", endpoint, servedId, bookieId);
            }

            return channel;
        }
        catch (Exception e)
        {
            await channel.DisposeAsync();
            if (e is BookieException)
            {
                throw;
            }

            throw new BookieException(StatusCode.BookieUnavailable, $"Cannot connect to bookie {bookieId} ({endpoint}): {e.Message}", e);
        }
    }

    /// <summary>Body writer of a request: fills exactly the body length it was given.</summary>
    public delegate void BodyWriter<TState>(Span<byte> body, TState state);

    /// <summary>Sends a request and waits for its response (or a timeout, or the connection's loss).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<BookieReply> SendAsync<TState>(BookieOp op, byte flags, int bodyLength, BodyWriter<TState> writeBody, TState state,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_slots.Wait(0))
        {
            await _slots.WaitAsync(cancellationToken);
        }

        PendingRequest request;
        try
        {
            request = Register(timeout);
            if (IsClosed || !TryWriteFrame(op, flags, request.RequestId, bodyLength, writeBody, state))
            {
                Fail(request, StatusCode.BookieUnavailable);
            }
        }
        catch
        {
            _slots.Release();
            throw;
        }

        CancellationTokenRegistration registration = default;
        if (cancellationToken.CanBeCanceled)
        {
            registration = cancellationToken.UnsafeRegister(static (s, _) =>
            {
                var (channel, pending) = ((BookieChannel, PendingRequest))s!;
                channel.Fail(pending, StatusCode.Interrupted);
            }, (this, request));
        }

        try
        {
            return await request.Task;
        }
        finally
        {
            await registration.DisposeAsync();
            _slots.Release();
        }
    }

    /// <summary>
    /// Sends an add whose outcome goes to <paramref name="callback"/> (no task, no allocation). Not bounded by the
    /// in-flight limit: the caller (a ledger handle) bounds its own outstanding adds. With an <paramref name="owner"/>
    /// (and an array-backed entry) the entry is sent from its buffer, not copied; the owner's reference is held until sent.
    /// </summary>
    public void SendAdd(ReadOnlyMemory<byte> masterKey, ReadOnlyMemory<byte> packagedEntry, bool recovery, IBookieAddCallback callback,
        object? state, TimeSpan timeout, ISendBufferOwner? owner = null)
    {
        long ledgerId = PackagedEntry.LedgerId(packagedEntry.Span), entryId = PackagedEntry.EntryId(packagedEntry.Span);
        if (IsClosed)
        {
            FailAdd(callback, state, ledgerId, entryId);
            return;
        }

        var request = Register(timeout);
        request.UseCallback(callback, state, ledgerId, entryId);
        byte flags = recovery ? BookieProtocol.FlagRecoveryAdd : (byte)0;
        int bodyLength = BookieRequest.AddBodyLength(masterKey.Length, packagedEntry.Length);
        bool queued;
        if (owner is not null && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(packagedEntry, out var entry))
        {
            // Frame header and key from a chunk, the entry straight from the owner's buffer: one gather send, no copy.
            queued = _outbound.Enqueue(BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize + 1 + masterKey.Length,
                static (span, s) =>
                {
                    int offset = BookieProtocol.WriteHeader(span, s.bodyLength, (byte)BookieOp.AddEntry, s.flags, s.requestId);
                    BookieRequest.WriteAddBody(span[offset..], s.masterKey.Span, default);
                },
                (bodyLength, flags, requestId: request.RequestId, masterKey), entry, owner);
        }
        else
        {
            queued = TryWriteFrame(BookieOp.AddEntry, flags, request.RequestId, bodyLength,
                static (span, s) => BookieRequest.WriteAddBody(span, s.masterKey.Span, s.packagedEntry.Span),
                (masterKey, packagedEntry));
        }

        if (!queued)
        {
            // The connection broke between the check above and the queueing: fail the add on the thread pool, never inside
            // this call (the caller may hold its own lock and expects outcomes only through later callbacks).
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.channel.Fail(s.request, StatusCode.BookieUnavailable), (channel: this, request),
                preferLocal: false);
        }
    }

    private static void FailAdd(IBookieAddCallback callback, object? state, long ledgerId, long entryId)
    {
        var failed = new BookieAddResult(StatusCode.BookieUnavailable, ledgerId, entryId);
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.callback.OnAddComplete(s.failed, s.state), (callback, failed, state), preferLocal: false);
    }

    private bool TryWriteFrame<TState>(BookieOp op, byte flags, ulong requestId, int bodyLength, BodyWriter<TState> writeBody, TState state) =>
        _outbound.Enqueue(BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize + bodyLength,
            static (span, s) =>
            {
                int offset = BookieProtocol.WriteHeader(span, s.bodyLength, (byte)s.op, s.flags, s.requestId);
                s.writeBody(span[offset..], s.state);
            },
            (bodyLength, op, flags, requestId, writeBody, state));

    private PendingRequest Register(TimeSpan timeout)
    {
        if (!_pool.TryTake(out var request))
        {
            request = new PendingRequest();
        }

        ulong id = Interlocked.Increment(ref _nextRequestId);
        request.Arm(this, id, Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));
        lock (_pendingGate)
        {
            _pending.Add(id, request);
        }

        return request;
    }

    internal void Return(PendingRequest request) => _pool.Add(request);

    private void Fail(PendingRequest request, StatusCode status)
    {
        lock (_pendingGate)
        {
            if (!_pending.Remove(request.RequestId, out var found) || !ReferenceEquals(found, request))
            {
                return;
            }
        }

        request.TryComplete(new BookieReply(status, 0, 0, 0, null));
    }

    private void StartLoops()
    {
        var stream = new NetworkStream(_socket, ownsSocket: false);
        _loops = Task.WhenAll(ReceiveLoopAsync(stream), TimeoutLoopAsync());
    }

    private async Task ReceiveLoopAsync(NetworkStream stream)
    {
        var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 256 * 1024, minimumReadSize: 64 * 1024));
        string reason = "the bookie closed the connection";
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(_closed.Token);
                var buffer = result.Buffer;
                while (TryTakeResponse(ref buffer))
                {
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or WireProtocolException)
        {
            reason = e.Message;
        }
        finally
        {
            await input.CompleteAsync();
            Close(reason);
        }
    }

    private bool TryTakeResponse(ref ReadOnlySequence<byte> buffer)
    {
        const int fixedSize = BookieFraming.MinResponseLength;
        ReadOnlySequence<byte> frame;
        try
        {
            if (!BookieFraming.TryTakeFrame(ref buffer, fixedSize, out frame))
            {
                return false;
            }
        }
        catch (WireProtocolException e)
        {
            throw new WireProtocolException($"bookie {BookieId} sent a bad frame: {e.Message}");
        }

        Span<byte> head = stackalloc byte[fixedSize];
        frame.Slice(0, fixedSize).CopyTo(head);
        var response = BookieFraming.DecodeResponse(head);
        int payloadLength = (int)frame.Length - fixedSize;
        PendingRequest? request;
        lock (_pendingGate)
        {
            _pending.Remove(response.RequestId, out request);
        }

        if (request is not null)
        {
            byte[]? payload = null;
            if (payloadLength > 0)
            {
                payload = new byte[payloadLength];
                frame.Slice(fixedSize, payloadLength).CopyTo(payload);
            }

            request.TryComplete(new BookieReply(response.Status, response.A, response.B, response.C, payload));
        }

        return true;
    }

    private async Task TimeoutLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        var expired = new List<PendingRequest>();
        try
        {
            while (await timer.WaitForNextTickAsync(_closed.Token))
            {
                long now = Stopwatch.GetTimestamp();
                lock (_pendingGate)
                {
                    foreach (var request in _pending.Values)
                    {
                        if (request.Deadline < now)
                        {
                            expired.Add(request);
                        }
                    }
                }

                foreach (var request in expired)
                {
                    Fail(request, StatusCode.Timeout);
                }

                expired.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Close(string reason)
    {
        if (_closed.IsCancellationRequested)
        {
            return;
        }

        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        _logger.LogDebug("Connection to bookie {Bookie} closed: {Reason}", BookieId, reason);
        _outbound.Break();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        PendingRequest[] pending;
        lock (_pendingGate)
        {
            pending = [.. _pending.Values];
            _pending.Clear();
        }

        foreach (var request in pending)
        {
            request.TryComplete(new BookieReply(StatusCode.BookieUnavailable, 0, 0, 0, null));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close("closed by the client");
        try
        {
            await _loops;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        _socket.Dispose();
    }
}
