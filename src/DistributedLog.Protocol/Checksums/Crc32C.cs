using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace DistributedLog.Protocol.Checksums;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of every entry, journal record and frame body. Uses the SSE4.2 / ARMv8
/// CRC instructions through <see cref="BitOperations.Crc32C(uint, ulong)"/> (a software table otherwise).
/// </summary>
public static class Crc32C
{
    /// <summary>Computes the CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Start(0), data));

    /// <summary>Computes the CRC-32C of <paramref name="data"/> with a seed mixed in (distinguishes otherwise equal data).</summary>
    public static uint Compute(ReadOnlySpan<byte> data, uint seed) => Finish(Append(Start(seed), data));

    /// <summary>Computes the CRC-32C of a possibly multi-segment sequence.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
        {
            return Compute(data.FirstSpan);
        }

        uint state = Start(0);
        foreach (var segment in data)
        {
            state = Append(state, segment.Span);
        }

        return Finish(state);
    }

    /// <summary>Starts an incremental computation; feed data with <see cref="Append"/> and end with <see cref="Finish"/>.</summary>
    public static uint Start(uint seed = 0) => ~seed;

    /// <summary>Feeds <paramref name="data"/> into an incremental computation.</summary>
    public static uint Append(uint state, ReadOnlySpan<byte> data)
    {
        var longs = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in longs)
        {
            state = BitOperations.Crc32C(state, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        }

        for (int i = longs.Length * sizeof(ulong); i < data.Length; i++)
        {
            state = BitOperations.Crc32C(state, data[i]);
        }

        return state;
    }

    /// <summary>Ends an incremental computation.</summary>
    public static uint Finish(uint state) => ~state;
}
