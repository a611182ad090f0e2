using System.Net;
using System.Net.Sockets;

namespace DistributedLog.Compare;

/// <summary>
/// The loopback floor: a TCP echo server in this process and one client connection (Nagle off); a "write" sends the
/// payload and waits for the echo, so with one outstanding it measures one round trip through the kernel's loopback
/// and two async socket wake-ups, about what every request of every system here pays at least once.
/// </summary>
internal sealed class LoopbackDriver : IDriver
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private Task? _server;

    public string System => "loopback";

    public async Task<IRecordWriter> OpenAsync(Workload workload, CancellationToken cancellationToken)
    {
        _listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _sockets.Add(client);
        await client.ConnectAsync((IPEndPoint)_listener.LocalEndpoint, cancellationToken);
        var server = await _listener.AcceptSocketAsync(cancellationToken);
        server.NoDelay = true;
        _sockets.Add(server);
        _server = EchoAsync(server, _stop.Token);
        return new Writer(client);
    }

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        if (_server is not null)
        {
            await _server;
        }

        _listener.Stop();
        _stop.Dispose();
    }

    private sealed class Writer(Socket socket) : IRecordWriter
    {
        private readonly byte[] _echo = new byte[64 * 1024];

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        {
            await socket.SendAsync(payload, SocketFlags.None, cancellationToken);
            int received = 0;
            while (received < payload.Length)
            {
                int read = await socket.ReceiveAsync(_echo.AsMemory(received), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new IOException("The echo server closed the connection.");
                }

                received += read;
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
