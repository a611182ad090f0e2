using System.Buffers;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Tests;

public class AllocationTests
{
    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Lz4)]
    public void Encode_and_decode_of_a_batch_allocate_nothing_once_warm(CompressionCodec codec)
    {
        byte[] payload = new byte[100];
        new Random(5).NextBytes(payload.AsSpan(0, 40));
        using var writer = new EntryWriter();
        using var set = new RecordSetWriter();
        using var reader = new EntryReader();
        var output = new ArrayBufferWriter<byte>(64 * 1024);

        long RoundTrip()
        {
            writer.Reset();
            set.Reset();
            output.ResetWrittenCount();
            for (int i = 0; i < 100; i++)
            {
                writer.TryAdd(i, LogRecordFlags.None, payload, i + 1);
                set.TryAdd(payload);
            }

            writer.TryAddRecordSet(set, 100, 101, codec);
            writer.Seal(codec, output);
            long sum = 0;
            foreach (LogRecordView record in reader.Read(output.WrittenSpan))
            {
                sum += record.Payload.Length + record.SlotId;
            }

            return sum;
        }

        long expected = RoundTrip();
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool allSame = true;
        for (int i = 0; i < 100; i++)
        {
            // No Assert inside the measured loop: xunit's asserts allocate.
            allSame &= RoundTrip() == expected;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allSame);

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Dlsn_format_and_parse_allocate_nothing()
    {
        var dlsn = new Dlsn(123, 456_789, 12);
        Span<char> chars = stackalloc char[Dlsn.MaxTextLength];
        Span<byte> utf8 = stackalloc byte[Dlsn.MaxTextLength];
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(dlsn.TryFormat(chars, out int n));
        Assert.True(Dlsn.TryParse(chars[..n], out Dlsn back));
        Assert.True(dlsn.TryFormat(utf8, out int m, "B"));
        Assert.True(Dlsn.TryParse(utf8[..m], out Dlsn back64));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(dlsn, back);
        Assert.Equal(dlsn, back64);
        Assert.Equal(0, allocated);
    }
}
