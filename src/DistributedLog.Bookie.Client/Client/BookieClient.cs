using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Bookie.Client;

/// <summary>
/// Talks to bookies: one reused, pipelined connection per bookie, any number of requests in flight on it, responses
/// matched by request id. Bookies are named by id <c>host:port</c>. Failures come back as a <see cref="StatusCode"/>
/// in the result (a lost connection is <c>BookieUnavailable</c>, a missing response <c>Timeout</c>), so that the
/// replication layer can react per bookie without exceptions on its hot path. Thread-safe.
/// </summary>
public sealed class BookieClient : IAsyncDisposable
{
    private readonly BookieClientOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<BookieChannel>>> _channels = new();
    private readonly ConcurrentDictionary<string, long> _failedUntil = new();
    private volatile bool _disposed;

    /// <summary>Creates a client.</summary>
    public BookieClient(BookieClientOptions? options = null)
    {
        _options = options ?? new BookieClientOptions();
        _logger = (_options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<BookieClient>();
    }

    /// <summary>Adds a packaged entry to a ledger on a bookie.</summary>
    /// <param name="bookieId">The bookie (<c>host:port</c>).</param>
    /// <param name="masterKey">The ledger's master key (writer token), at most 64 bytes.</param>
    /// <param name="packagedEntry">The entry, built with <see cref="PackagedEntry.Write"/>.</param>
    /// <param name="recovery">A recovery add: allowed on a fenced ledger and on a read-only bookie.</param>
    /// <param name="cancellationToken">Cancels the wait (the add may still happen).</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<BookieAddResult> AddEntryAsync(string bookieId, ReadOnlyMemory<byte> masterKey, ReadOnlyMemory<byte> packagedEntry,
        bool recovery = false, CancellationToken cancellationToken = default)
    {
        if (masterKey.Length > BookieProtocol.MaxMasterKeyLength)
        {
            throw new ArgumentException($"Master keys are at most {BookieProtocol.MaxMasterKeyLength} bytes.", nameof(masterKey));
        }

        long ledgerId = PackagedEntry.LedgerId(packagedEntry.Span);
        long entryId = PackagedEntry.EntryId(packagedEntry.Span);
        var reply = await SendAsync(bookieId, BookieOp.AddEntry, recovery ? BookieProtocol.FlagRecoveryAdd : (byte)0,
            BookieRequest.AddBodyLength(masterKey.Length, packagedEntry.Length),
            static (span, s) => BookieRequest.WriteAddBody(span, s.masterKey.Span, s.packagedEntry.Span),
            (masterKey, packagedEntry), _options.RequestTimeout, cancellationToken);
        return new BookieAddResult(reply.Status, ledgerId, entryId);
    }

    /// <summary>
    /// Sends an add and reports its outcome to <paramref name="callback"/> instead of returning a task: the allocation-free
    /// path the replication layer uses for every replica of every entry. Failures (including an unreachable bookie)
    /// arrive through the callback too, never synchronously inside this call. With an <paramref name="owner"/> the entry
    /// is sent straight from its buffer (the owner's reference is held until it is on the socket); without one it is copied.
    /// </summary>
    public void AddEntry(string bookieId, ReadOnlyMemory<byte> masterKey, ReadOnlyMemory<byte> packagedEntry, bool recovery,
        IBookieAddCallback callback, object? state, ISendBufferOwner? owner = null)
    {
        if (!_disposed && _channels.TryGetValue(bookieId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully
            && !lazy.Value.Result.IsClosed)
        {
            lazy.Value.Result.SendAdd(masterKey, packagedEntry, recovery, callback, state, _options.RequestTimeout, owner);
            return;
        }

        _ = AddEntrySlowAsync(bookieId, masterKey, packagedEntry, recovery, callback, state, owner);
    }

    private async Task AddEntrySlowAsync(string bookieId, ReadOnlyMemory<byte> masterKey, ReadOnlyMemory<byte> packagedEntry, bool recovery,
        IBookieAddCallback callback, object? state, ISendBufferOwner? owner)
    {
        await Task.Yield();
        BookieChannel channel;
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            channel = await GetChannelAsync(bookieId, CancellationToken.None);
        }
        catch (Exception e) when (e is BookieException or ObjectDisposedException)
        {
            var status = e is BookieException b ? b.Code : StatusCode.ClientClosed;
            callback.OnAddComplete(new BookieAddResult(status, PackagedEntry.LedgerId(packagedEntry.Span), PackagedEntry.EntryId(packagedEntry.Span)), state);
            return;
        }

        channel.SendAdd(masterKey, packagedEntry, recovery, callback, state, _options.RequestTimeout, owner);
    }

    /// <summary>Reads an entry (entry id -1: the last entry the bookie has). With <paramref name="fence"/> the ledger is fenced first.</summary>
    public async ValueTask<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence = false,
        ReadOnlyMemory<byte> masterKey = default, CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(bookieId, BookieOp.ReadEntry, fence ? BookieProtocol.FlagFence : (byte)0, BookieRequest.ReadBodyLength(masterKey.Length),
            static (span, s) => BookieRequest.WriteReadBody(span, s.ledgerId, s.entryId, s.masterKey.Span),
            (ledgerId, entryId, masterKey), _options.RequestTimeout, cancellationToken);
        return ToReadResult(bookieId, ledgerId, reply);
    }

    /// <summary>
    /// Waits until the bookie's LAC for the ledger reaches <paramref name="entryId"/> (then returns that entry, if this bookie
    /// holds it) or <paramref name="timeout"/> passes (status <c>Timeout</c>, with the current LAC).
    /// </summary>
    public async ValueTask<BookieReadResult> LongPollReadAsync(string bookieId, long ledgerId, long entryId, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        uint timeoutMs = (uint)Math.Clamp(timeout.TotalMilliseconds, 0, uint.MaxValue);
        var reply = await SendAsync(bookieId, BookieOp.LongPollRead, 0, BookieRequest.LongPollBodyLength,
            static (span, s) => BookieRequest.WriteLongPollBody(span, s.ledgerId, s.entryId, s.timeoutMs),
            (ledgerId, entryId, timeoutMs), timeout + _options.RequestTimeout, cancellationToken);
        return ToReadResult(bookieId, ledgerId, reply);
    }

    /// <summary>Reads the ledger's LAC and last entry id as the bookie knows them.</summary>
    public async ValueTask<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(bookieId, BookieOp.ReadLac, 0, BookieRequest.LedgerIdBodyLength,
            static (span, id) => BookieRequest.WriteLedgerIdBody(span, id), ledgerId, _options.RequestTimeout, cancellationToken);
        return new BookieLacResult(reply.Status, reply.B, reply.C);
    }

    /// <summary>Fences the ledger on the bookie (durably) and returns its LAC and last entry id.</summary>
    public async ValueTask<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(bookieId, BookieOp.Fence, 0, BookieRequest.FenceBodyLength(masterKey.Length),
            static (span, s) => BookieRequest.WriteFenceBody(span, s.ledgerId, s.masterKey.Span),
            (ledgerId, masterKey), _options.RequestTimeout, cancellationToken);
        return new BookieLacResult(reply.Status, reply.B, reply.C);
    }

    /// <summary>Deletes the ledger on the bookie.</summary>
    public async ValueTask<StatusCode> DeleteLedgerAsync(string bookieId, long ledgerId, CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(bookieId, BookieOp.DeleteLedger, 0, BookieRequest.LedgerIdBodyLength,
            static (span, id) => BookieRequest.WriteLedgerIdBody(span, id), ledgerId, _options.RequestTimeout, cancellationToken);
        return reply.Status;
    }

    /// <summary>Checks that the bookie answers, and whether it is writable.</summary>
    public async ValueTask<BookiePingResult> PingAsync(string bookieId, CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(bookieId, BookieOp.Ping, 0, 0, static (_, _) => { }, 0, _options.RequestTimeout, cancellationToken);
        return new BookiePingResult(reply.Status, (BookieState)reply.A);
    }

    /// <summary>Closes the connection to one bookie (the next request reconnects).</summary>
    public async ValueTask DisconnectAsync(string bookieId)
    {
        if (_channels.TryRemove(bookieId, out var lazy) && lazy.IsValueCreated)
        {
            try
            {
                await (await lazy.Value).DisposeAsync();
            }
            catch (BookieException)
            {
            }
        }
    }

    private static BookieReadResult ToReadResult(string bookieId, long ledgerId, BookieReply reply)
    {
        if (reply.Status != StatusCode.Success || reply.Payload is null)
        {
            var status = reply.Status == StatusCode.Success ? StatusCode.NoSuchEntry : reply.Status;
            return new BookieReadResult(status, ledgerId, reply.B, reply.C, ReadOnlyMemory<byte>.Empty);
        }

        // Verify here, so a corrupt replica is reported and never handed up as good data.
        if (PackagedEntry.Validate(reply.Payload) is not null || PackagedEntry.LedgerId(reply.Payload) != ledgerId
            || PackagedEntry.EntryId(reply.Payload) != reply.B)
        {
            return new BookieReadResult(StatusCode.ChecksumFailed, ledgerId, reply.B, reply.C, ReadOnlyMemory<byte>.Empty);
        }

        return new BookieReadResult(StatusCode.Success, ledgerId, reply.B, reply.C, reply.Payload);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BookieReply> SendAsync<TState>(string bookieId, BookieOp op, byte flags, int bodyLength,
        BookieChannel.BodyWriter<TState> writeBody, TState state, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        BookieChannel channel;
        try
        {
            channel = await GetChannelAsync(bookieId, cancellationToken);
        }
        catch (BookieException e)
        {
            _logger.LogDebug("Bookie {Bookie} unavailable: {Message}", bookieId, e.Message);
            return new BookieReply(e.Code, 0, 0, 0, null);
        }

        return await channel.SendAsync(op, flags, bodyLength, writeBody, state, timeout, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BookieChannel> GetChannelAsync(string bookieId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var lazy = _channels.GetOrAdd(bookieId, id => new Lazy<Task<BookieChannel>>(() => ConnectAsync(id)));
            BookieChannel channel;
            try
            {
                channel = await lazy.Value.WaitAsync(cancellationToken);
            }
            catch (BookieException)
            {
                _channels.TryRemove(KeyValuePair.Create(bookieId, lazy));
                throw;
            }

            if (!channel.IsClosed)
            {
                return channel;
            }

            if (_channels.TryRemove(KeyValuePair.Create(bookieId, lazy)))
            {
                _ = channel.DisposeAsync().AsTask();
            }
        }
    }

    private async Task<BookieChannel> ConnectAsync(string bookieId)
    {
        if (_failedUntil.TryGetValue(bookieId, out long until) && Stopwatch.GetTimestamp() < until)
        {
            throw new BookieException(StatusCode.BookieUnavailable, $"Bookie {bookieId} failed recently; not retrying yet.");
        }

        try
        {
            var endpoint = await ResolveAsync(bookieId);
            var channel = await BookieChannel.ConnectAsync(bookieId, endpoint, _options, _logger, CancellationToken.None);
            _failedUntil.TryRemove(bookieId, out _);
            return channel;
        }
        catch (BookieException)
        {
            _failedUntil[bookieId] = Stopwatch.GetTimestamp() + (long)(_options.ReconnectBackoff.TotalSeconds * Stopwatch.Frequency);
            throw;
        }
    }

    private static async Task<EndPoint> ResolveAsync(string bookieId)
    {
        int colon = bookieId.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(bookieId.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
        {
            throw new BookieException(StatusCode.BadRequest, $"Bookie id '{bookieId}' is not host:port.");
        }

        string host = bookieId[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out var address))
        {
            return new IPEndPoint(address, port);
        }

        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host);
            return new IPEndPoint(addresses[0], port);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IndexOutOfRangeException)
        {
            throw new BookieException(StatusCode.BookieUnavailable, $"Cannot resolve bookie host '{host}': {e.Message}", e);
        }
    }

    /// <summary>Closes every connection; pending requests fail with <c>BookieUnavailable</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        foreach (var lazy in _channels.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.DisposeAsync();
            }
        }

        _channels.Clear();
    }
}
