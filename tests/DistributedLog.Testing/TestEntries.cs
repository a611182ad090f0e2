using DistributedLog.Bookie.Wire;

namespace DistributedLog.Testing;

/// <summary>Deterministic packaged entries: the same (seed, ledger, entry) always gives the same bytes.</summary>
public static class TestEntries
{
    public static readonly byte[] Key = [1, 2, 3, 4, 5, 6, 7, 8];

    public static byte[] Make(long ledgerId, long entryId, long lac, int size = 100, int seed = 0)
    {
        var random = new Random(HashCode.Combine(seed, ledgerId, entryId));
        byte[] payload = new byte[size];
        random.NextBytes(payload);
        byte[] entry = new byte[PackagedEntry.SizeOf(size)];
        PackagedEntry.Write(entry, ledgerId, entryId, lac, 0, payload);
        return entry;
    }

    public static string TempDirectory(string name) => Path.Combine(Path.GetTempPath(), $"dl-{name}-{Guid.NewGuid():N}");
}
