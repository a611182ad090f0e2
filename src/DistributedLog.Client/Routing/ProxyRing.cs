using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace DistributedLog.Client.Routing;

/// <summary>
/// A consistent-hash ring of proxy endpoints (many virtual nodes each): a log maps to the first endpoint clockwise from
/// its hash, so adding or removing one proxy moves only that proxy's share of the logs.
/// </summary>
internal sealed class ProxyRing
{
    private const int VirtualNodes = 128;
    private readonly ulong[] _hashes;
    private readonly string[] _owners;

    public ProxyRing(IReadOnlyCollection<string> endpoints)
    {
        Endpoints = [.. endpoints.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var nodes = new List<(ulong Hash, string Endpoint)>(Endpoints.Count * VirtualNodes);
        foreach (string endpoint in Endpoints)
        {
            for (int i = 0; i < VirtualNodes; i++)
            {
                nodes.Add((Hash($"{endpoint}#{i}"), endpoint));
            }
        }

        nodes.Sort((a, b) => a.Hash.CompareTo(b.Hash));
        _hashes = [.. nodes.Select(n => n.Hash)];
        _owners = [.. nodes.Select(n => n.Endpoint)];
    }

    /// <summary>The endpoints on the ring (sorted).</summary>
    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>The endpoints in the order a log tries them: its owner on the ring first, then the next distinct ones clockwise.</summary>
    public IEnumerable<string> Candidates(string key)
    {
        if (_hashes.Length == 0)
        {
            yield break;
        }

        int start = Array.BinarySearch(_hashes, Hash(key));
        if (start < 0)
        {
            start = ~start;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < _hashes.Length && seen.Count < Endpoints.Count; i++)
        {
            string endpoint = _owners[(start + i) % _hashes.Length];
            if (seen.Add(endpoint))
            {
                yield return endpoint;
            }
        }
    }

    private static ulong Hash(string key)
    {
        int max = Encoding.UTF8.GetMaxByteCount(key.Length);
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        int length = Encoding.UTF8.GetBytes(key, buffer);
        return XxHash64.HashToUInt64(buffer[..length]);
    }
}
