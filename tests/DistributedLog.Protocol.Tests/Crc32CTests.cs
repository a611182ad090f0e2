using System.Text;
using DistributedLog.Protocol.Checksums;

namespace DistributedLog.Protocol.Tests;

public class Crc32CTests
{
    [Fact]
    public void KnownVector() =>
        // The standard CRC-32C check value.
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));

    [Fact]
    public void IncrementalEqualsWhole()
    {
        byte[] data = new byte[1000];
        new Random(1).NextBytes(data);
        for (int split = 0; split <= data.Length; split += 37)
        {
            uint s = Crc32C.Start();
            s = Crc32C.Append(s, data.AsSpan(0, split));
            s = Crc32C.Append(s, data.AsSpan(split));
            Assert.Equal(Crc32C.Compute(data), Crc32C.Finish(s));
        }
    }
}
