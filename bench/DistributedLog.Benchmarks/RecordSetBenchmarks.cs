using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Benchmarks;

/// <summary>
/// Building one record set of 100 records of 100 bytes with <see cref="LogRecordSetBuilder"/>: sealed into a reused buffer
/// (what a batching client does in steady state: no allocation), as a new <see cref="LogRecord"/> (one payload array per set),
/// and the checks a set meets on the way: the proxy's header-only check and the writer's full validation.
/// </summary>
[MemoryDiagnoser]
public class RecordSetBenchmarks
{
    private const int Records = 100;
    private const int PayloadSize = 100;

    private readonly byte[] _payload = new byte[PayloadSize];
    private readonly byte[] _destination = new byte[64 * 1024];
    private LogRecordSetBuilder _set = null!;
    private byte[] _sealed = [];

    [Params(CompressionCodec.None, CompressionCodec.Lz4)]
    public CompressionCodec Codec { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Half random, half repetitive: roughly what JSON-ish events look like to LZ4.
        new Random(42).NextBytes(_payload.AsSpan(0, PayloadSize / 2));
        _set = new LogRecordSetBuilder(Codec);
        _sealed = _destination.AsSpan(0, BuildAndSeal()).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _set.Dispose();

    /// <summary>100 adds and a seal into a reused buffer.</summary>
    [Benchmark(Baseline = true)]
    public int BuildAndSeal()
    {
        _set.Reset();
        for (int i = 0; i < Records; i++)
        {
            // Records differ (their first bytes are their index), so LZ4 cannot fold 100 copies of one record.
            BinaryPrimitives.WriteInt32BigEndian(_payload, i);
            _set.TryAdd(_payload);
        }

        return _set.Seal(_destination);
    }

    /// <summary>100 adds and <see cref="LogRecordSetBuilder.Build"/>: the record handed to a writer.</summary>
    [Benchmark]
    public LogRecord BuildRecord()
    {
        _set.Reset();
        for (int i = 0; i < Records; i++)
        {
            // Records differ (their first bytes are their index), so LZ4 cannot fold 100 copies of one record.
            BinaryPrimitives.WriteInt32BigEndian(_payload, i);
            _set.TryAdd(_payload);
        }

        return _set.Build(1);
    }

    /// <summary>What the proxy checks: the header only.</summary>
    [Benchmark]
    public int ProxyHeaderCheck() => RecordSetFormat.ReadCount(_sealed);

    /// <summary>What the core writer checks before taking a set: every record (decompressing an LZ4 set).</summary>
    [Benchmark]
    public int WriterValidation() => RecordSetFormat.Validate(_sealed);
}
