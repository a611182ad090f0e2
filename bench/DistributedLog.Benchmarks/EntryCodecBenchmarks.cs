using System.Buffers;
using BenchmarkDotNet.Attributes;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Benchmarks;

/// <summary>Encoding and decoding one entry of 100 records of 100 bytes (plain records or one record set).</summary>
[MemoryDiagnoser]
public class EntryCodecBenchmarks
{
    private const int Records = 100;
    private const int PayloadSize = 100;

    private readonly byte[] _payload = new byte[PayloadSize];
    private readonly EntryWriter _writer = new();
    private readonly RecordSetWriter _set = new();
    private readonly EntryReader _reader = new();
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private byte[] _entry = [];
    private byte[] _setEntry = [];

    [Params(CompressionCodec.None, CompressionCodec.Lz4)]
    public CompressionCodec Codec { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Half random, half repetitive: roughly what JSON-ish events look like to LZ4.
        new Random(42).NextBytes(_payload.AsSpan(0, PayloadSize / 2));
        _ = Encode();
        _entry = _output.WrittenSpan.ToArray();
        _ = EncodeRecordSet();
        _setEntry = _output.WrittenSpan.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _set.Dispose();
        _reader.Dispose();
    }

    [Benchmark]
    public int Encode()
    {
        _writer.Reset();
        _output.ResetWrittenCount();
        for (int i = 0; i < Records; i++)
        {
            _writer.TryAdd(i, LogRecordFlags.None, _payload, i + 1);
        }

        return _writer.Seal(Codec, _output);
    }

    [Benchmark]
    public int EncodeRecordSet()
    {
        _writer.Reset();
        _set.Reset();
        _output.ResetWrittenCount();
        for (int i = 0; i < Records; i++)
        {
            _set.TryAdd(_payload);
        }

        _writer.TryAddRecordSet(_set, 1, 1, Codec);
        return _writer.Seal(Codec, _output);
    }

    [Benchmark]
    public long Decode() => Enumerate(_entry);

    [Benchmark]
    public long DecodeRecordSet() => Enumerate(_setEntry);

    private long Enumerate(byte[] entry)
    {
        long sum = 0;
        foreach (LogRecordView record in _reader.Read(entry))
        {
            sum += record.TxId + record.Payload.Length;
        }

        return sum;
    }
}
