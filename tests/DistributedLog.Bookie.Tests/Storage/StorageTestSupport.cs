using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Bookie.IO;
using DistributedLog.Bookie.Storage;
using DistributedLog.Bookie.Wire;

namespace DistributedLog.Bookie.Tests.Storage;

/// <summary>A directory under the system temp dir, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dl-storage-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string EntryLogs => System.IO.Path.Combine(Path, "entrylogs");

    public string[] EntryLogFiles() => [.. Directory.GetFiles(EntryLogs, "*.log").Order(StringComparer.Ordinal)];

    public long EntryLogBytes() => EntryLogFiles().Sum(f => new FileInfo(f).Length);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Fault seam for tests: make writes or syncs of entry logs throw, or block syncs until released.</summary>
internal sealed class TestFaults : IFileFaultInjector
{
    private readonly ManualResetEventSlim _syncGate = new(initialState: true);
    private volatile bool _failWrites;
    private volatile bool _failSyncs;
    private int _blockedSyncs;

    public bool FailWrites { get => _failWrites; set => _failWrites = value; }

    public bool FailSyncs { get => _failSyncs; set => _failSyncs = value; }

    public int InjectedFailures;

    /// <summary>Syncs that started waiting at the gate.</summary>
    public int BlockedSyncs => Volatile.Read(ref _blockedSyncs);

    public void BlockSyncs() => _syncGate.Reset();

    public void ReleaseSyncs() => _syncGate.Set();

    public void BeforeWrite(string path, long offset, int length)
    {
        if (_failWrites && path.EndsWith(".log", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref InjectedFailures);
            throw new IOException($"Injected write failure on {path}.");
        }
    }

    public void BeforeSync(string path)
    {
        if (!path.EndsWith(".log", StringComparison.Ordinal))
        {
            return;
        }

        if (_failSyncs)
        {
            Interlocked.Increment(ref InjectedFailures);
            throw new IOException($"Injected sync failure on {path}.");
        }

        if (!_syncGate.IsSet)
        {
            Interlocked.Increment(ref _blockedSyncs);
            _syncGate.Wait(TimeSpan.FromSeconds(30));
        }
    }
}

internal static class StorageTestSupport
{
    public static LedgerStorageOptions Options(string directory, long writeCache = 4 << 20, long readCache = 1 << 20,
        long entryLogLimit = 1 << 20, IFileFaultInjector? faults = null, bool flushOnClose = true, double compactionThreshold = 0.5,
        int readAhead = 64 << 10) => new()
        {
            Directory = directory,
            WriteCacheSize = writeCache,
            ReadCacheSize = readCache,
            ReadAheadBytes = readAhead,
            EntryLogSizeLimit = entryLogLimit,
            EntryLogPreallocationBytes = 64 << 10,
            EntryLogWriteBufferSize = 64 << 10,
            FaultInjector = faults,
            FlushOnClose = flushOnClose,
            CompactionThreshold = compactionThreshold,
            MaxThrottleWait = TimeSpan.FromSeconds(10),
        };

    /// <summary>A packaged entry whose payload is a deterministic function of (ledger, entry, size).</summary>
    public static byte[] Entry(long ledgerId, long entryId, int payloadSize = 100)
    {
        byte[] payload = new byte[payloadSize];
        ulong x = (ulong)(ledgerId * 1_000_003 + entryId * 7919 + payloadSize) | 1;
        for (int i = 0; i < payload.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            payload[i] = (byte)x;
        }

        byte[] entry = new byte[PackagedEntry.SizeOf(payloadSize)];
        PackagedEntry.Write(entry, ledgerId, entryId, entryId - 1, entryId * payloadSize, payload);
        return entry;
    }

    /// <summary>The payload size used for (ledger, entry) in tests that vary it.</summary>
    public static int SizeFor(long ledgerId, long entryId, int max = 2000) => (int)((ledgerId * 31 + entryId * 17) % max);

    public static byte[]? Read(ILedgerStorage storage, long ledgerId, long entryId)
    {
        var writer = new ArrayBufferWriter<byte>();
        return storage.TryReadEntry(ledgerId, entryId, writer) ? writer.WrittenSpan.ToArray() : null;
    }

    public static void AddOrFail(ILedgerStorage storage, long ledgerId, long entryId, byte[] entry) =>
        Assert.True(storage.TryAddEntry(ledgerId, entryId, entry), $"write cache refused {ledgerId}:{entryId}");

    /// <summary>Adds, waiting for cache space when the cache is full.</summary>
    public static async Task AddAsync(ILedgerStorage storage, long ledgerId, long entryId, byte[] entry)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            if (storage.TryAddEntry(ledgerId, entryId, entry))
            {
                return;
            }

            await storage.WaitForCacheSpaceAsync(CancellationToken.None);
        }

        throw new TimeoutException($"The write cache never took {ledgerId}:{entryId}.");
    }

    /// <summary>Finds the file offset of an entry's bytes by scanning an entry log file, or -1.</summary>
    public static long FindEntryOffset(string entryLogPath, long ledgerId, long entryId)
    {
        byte[] file = File.ReadAllBytes(entryLogPath);
        int position = 32;
        while (position + 4 <= file.Length)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(position));
            if (length < PackagedEntry.HeaderSize || position + 4 + length > file.Length)
            {
                break;
            }

            ReadOnlySpan<byte> entry = file.AsSpan(position + 4, length);
            if (PackagedEntry.LedgerId(entry) == ledgerId && PackagedEntry.EntryId(entry) == entryId)
            {
                return position + 4;
            }

            position += 4 + length;
        }

        return -1;
    }
}
