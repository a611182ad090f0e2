using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DistributedLog.Bookie.Server;

/// <summary>
/// Picks a free loopback port for a server that will bind it later (the sandbox's bookies, chaos runs, tests). The port
/// lies below the kernel's ephemeral range (<c>/proc/sys/net/ipv4/ip_local_port_range</c>), so no outgoing connection
/// of any process (a ledger client, an etcd channel) can take it between the pick and the bind — asking the kernel for
/// port 0 returns an ephemeral port that an outgoing connection may grab the moment it is released.
/// </summary>
public static class FreePorts
{
    private const int Lowest = 10_000;

    /// <summary>A port free now, below the ephemeral range (an ephemeral one only when that range starts too low).</summary>
    public static int Pick()
    {
        int highest = EphemeralStart() - 1;
        if (highest > Lowest + 1_000)
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                int port = Random.Shared.Next(Lowest, highest + 1);
                // A port handed out recently is not handed out again, even if it is still free: its server may not have
                // bound it yet (tests start many servers at once).
                if (IsFree(port) && Remember(port))
                {
                    return port;
                }
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static readonly Queue<int> Recent = new();
    private static readonly HashSet<int> RecentSet = [];

    private static bool Remember(int port)
    {
        lock (Recent)
        {
            if (!RecentSet.Add(port))
            {
                return false;
            }

            Recent.Enqueue(port);
            if (Recent.Count > 4096)
            {
                RecentSet.Remove(Recent.Dequeue());
            }

            return true;
        }
    }

    /// <summary>Whether <paramref name="port"/> can be bound on loopback now.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralStart()
    {
        try
        {
            string[] range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return range.Length > 0 && int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out int start) ? start : 32_768;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 32_768; // Linux's default
        }
    }
}
