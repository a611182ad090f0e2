using System.Net;
using System.Runtime;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Bookie.Server;

/// <summary>
/// Serves a <see cref="Bookie"/> over TCP with the bookie wire protocol (see <see cref="Wire.BookieProtocol"/>).
/// Each connection is read by its own loop and answered by its own writer loop; a connection that violates the
/// protocol is closed without disturbing the others.
/// </summary>
public sealed class BookieServer : IAsyncDisposable
{
    private Bookie? _bookie;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<BookieConnection> _connections = [];
    private Task _acceptLoop = Task.CompletedTask;
    private ITimer? _watchdog;
    private long _droppedSinceCompaction;
    private long _lastCompaction;
    private long _pendingFrameBytes;
    private long _lastRefusalLog = long.MinValue;

    /// <summary>Creates a server bound to <paramref name="endpoint"/> (port 0 picks a free port); <see cref="Start"/> serves a bookie on it.</summary>
    /// <param name="endpoint">Where to listen.</param>
    /// <param name="loggerFactory">Logging.</param>
    /// <param name="options">Limits on connections (defaults when null).</param>
    public BookieServer(IPEndPoint endpoint, ILoggerFactory? loggerFactory = null, BookieServerOptions? options = null)
    {
        Options = options ?? new BookieServerOptions();
        Options.Validate();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<BookieServer>();
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(endpoint);
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    /// <summary>The limits this server applies.</summary>
    public BookieServerOptions Options { get; }

    /// <summary>Bytes of unfinished frames all connections buffer right now.</summary>
    public long PendingFrameBytes => Interlocked.Read(ref _pendingFrameBytes);

    /// <summary>Adds <paramref name="delta"/> to the bytes of unfinished frames; returns the new total.</summary>
    internal long AddPendingFrameBytes(long delta) => Interlocked.Add(ref _pendingFrameBytes, delta);

    /// <summary>
    /// While unfinished frames hold more bytes than <see cref="BookieServerOptions.MaxPendingFrameBytes"/>, closes the
    /// connections with the oldest large unfinished frames (the likeliest to be stuck; a healthy client finishes its
    /// frames in milliseconds) until the rest fits.
    /// </summary>
    internal void EnforcePendingBudget()
    {
        if (PendingFrameBytes <= Options.MaxPendingFrameBytes)
        {
            return;
        }

        lock (_connections)
        {
            long total = PendingFrameBytes;
            long excess = total - Options.MaxPendingFrameBytes;
            foreach (var connection in _connections)
            {
                if (connection.IsAborted)
                {
                    // Closing already; its bytes are given back as its loop ends.
                    excess -= connection.PendingBytes;
                }
            }

            while (excess > 0)
            {
                BookieConnection? oldest = null;
                foreach (var connection in _connections)
                {
                    if (!connection.IsAborted && connection.PendingBytes >= Options.LargePendingFrameBytes
                        && (oldest is null || connection.PendingSince < oldest.PendingSince))
                    {
                        oldest = connection;
                    }
                }

                if (oldest is null)
                {
                    return;
                }

                excess -= oldest.PendingBytes;
                oldest.Evict(total);
            }
        }
    }

    /// <summary>The endpoint the server listens on.</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>How many connections are open.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_connections)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Starts accepting connections for <paramref name="bookie"/>.</summary>
    public void Start(Bookie bookie)
    {
        _bookie = bookie;
        _listener.Listen(512);
        // One watchdog for all connections: handshake and unfinished-frame timeouts, checked a few times per timeout.
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 10,
            Math.Min(Options.HandshakeTimeout.Ticks, Options.FrameReadTimeout.Ticks) / 4));
        _watchdog = Options.TimeProvider.CreateTimer(static s => ((BookieServer)s!).CheckTimeouts(), this, period, period);
        _acceptLoop = AcceptLoopAsync();
        _logger.LogInformation("Bookie {Bookie} listening on {Endpoint}", bookie.Id, Endpoint);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.LogWarning(e, "Accepting a connection failed");
                continue;
            }

            socket.NoDelay = true;
            if (ConnectionCount >= Options.MaxConnections)
            {
                // Only this loop adds connections, so the count cannot rise between the check and the add.
                Refuse(socket);
                continue;
            }

            var connection = new BookieConnection(this, _bookie!, socket, _loggerFactory.CreateLogger<BookieConnection>());
            lock (_connections)
            {
                _connections.Add(connection);
            }

            _ = RunConnectionAsync(connection);
        }
    }

    /// <summary>Counts the bytes of a large unfinished frame whose connection closed (evicted, timed out or gone).</summary>
    internal void OnLargeFrameDropped(long bytes) => Interlocked.Add(ref _droppedSinceCompaction, bytes);

    /// <summary>
    /// After connections holding many bytes of unfinished frames closed, compacts the heap once (at most every 30 s) so
    /// the process gives that memory back to the system instead of keeping its peak size.
    /// </summary>
    private void GiveMemoryBack()
    {
        long threshold = Options.CompactAfterDroppedBytes;
        if (threshold <= 0 || Interlocked.Read(ref _droppedSinceCompaction) < threshold
            || (_lastCompaction != 0 && Options.TimeProvider.GetElapsedTime(_lastCompaction) < TimeSpan.FromSeconds(30)))
        {
            return;
        }

        long dropped = Interlocked.Exchange(ref _droppedSinceCompaction, 0);
        _lastCompaction = Options.TimeProvider.GetTimestamp();
        long before = Environment.WorkingSet;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _logger.LogInformation("Closed connections dropped {Dropped} bytes of unfinished frames; compacted the heap: working set {Before} -> {After} bytes",
            dropped, before, Environment.WorkingSet);
    }

    private void CheckTimeouts()
    {
        GiveMemoryBack();
        BookieConnection[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }

        foreach (var connection in open)
        {
            connection.CheckTimeouts();
        }
    }

    /// <summary>Closes a connection over the limit at once (logged at most every 10 s).</summary>
    private void Refuse(Socket socket)
    {
        long now = Options.TimeProvider.GetTimestamp();
        if (_lastRefusalLog == long.MinValue || Options.TimeProvider.GetElapsedTime(_lastRefusalLog, now) >= TimeSpan.FromSeconds(10))
        {
            _lastRefusalLog = now;
            _logger.LogWarning("Refusing connection from {Remote}: {Max} connections are open already", socket.RemoteEndPoint, Options.MaxConnections);
        }

        socket.Dispose();
    }

    private async Task RunConnectionAsync(BookieConnection connection)
    {
        try
        {
            await connection.RunAsync(_stopping.Token);
        }
        finally
        {
            lock (_connections)
            {
                _connections.Remove(connection);
            }
        }
    }

    /// <summary>Stops accepting, closes every connection and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync();
        }

        _listener.Dispose();
        await _acceptLoop;
        BookieConnection[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }

        foreach (var connection in open)
        {
            connection.Abort();
        }

        await Task.WhenAll(open.Select(c => c.Completion));
        _stopping.Dispose();
    }
}
