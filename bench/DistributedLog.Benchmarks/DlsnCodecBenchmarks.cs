using BenchmarkDotNet.Attributes;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Benchmarks;

/// <summary>DLSN text and binary forms.</summary>
[MemoryDiagnoser]
public class DlsnCodecBenchmarks
{
    private readonly Dlsn _dlsn = new(1234, 567_890, 42);
    private readonly char[] _chars = new char[Dlsn.MaxTextLength];
    private readonly byte[] _bytes = new byte[Dlsn.SerializedSize];
    private string _text = "";
    private string _base64 = "";

    [GlobalSetup]
    public void Setup()
    {
        _text = _dlsn.ToString();
        _base64 = _dlsn.ToBase64();
    }

    [Benchmark]
    public int FormatToSpan()
    {
        _dlsn.TryFormat(_chars, out int written);
        return written;
    }

    [Benchmark]
    public string FormatToString() => _dlsn.ToString();

    [Benchmark]
    public Dlsn Parse() => Dlsn.Parse(_text.AsSpan());

    [Benchmark]
    public Dlsn ParseBase64() => Dlsn.Parse(_base64.AsSpan());

    [Benchmark]
    public Dlsn BinaryRoundTrip()
    {
        _dlsn.WriteTo(_bytes);
        Dlsn.TryRead(_bytes, out Dlsn back);
        return back;
    }
}
