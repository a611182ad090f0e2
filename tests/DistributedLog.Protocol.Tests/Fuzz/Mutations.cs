using System.Buffers.Binary;
using CsCheck;

namespace DistributedLog.Fuzzing;

/// <summary>
/// Mutation fuzzing for decoders: takes valid encodings and damages them the way a disk, a network or a hostile client
/// would (bit flips, overwritten bytes, length fields set to boundary and huge values in either byte order, cuts,
/// insertions, deletions, duplicated ranges). Deterministic for a given seed, so CsCheck reports a reproducible input.
/// Shared (as a linked source file) by the test projects that fuzz decoders.
/// </summary>
public static class Mutations
{
    /// <summary>Values worth writing into length and count fields: boundaries, signs and sizes far beyond any limit.</summary>
    private static readonly long[] Interesting =
    [
        0, 1, -1, 2, 7, 8, 16, 17, 36, 40, 127, 128, 255, 256, 4096, 65535, 65536, (1 << 20) - 4096, (1 << 20) - 4095, 1 << 20,
        (1 << 20) + 1, 16 << 20, int.MaxValue, int.MaxValue - 1, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue,
        0x7FFF_FFF0,
    ];

    /// <summary>Mutated copies of the valid inputs: 1 to 4 mutations each.</summary>
    public static Gen<byte[]> Of(Gen<byte[]> valid) =>
        Gen.Select(valid, Gen.Int, (input, seed) => Mutate(input, new Random(seed), 1 + (seed & 3)));

    /// <summary>Either random bytes (short and long) or mutated valid inputs.</summary>
    public static Gen<byte[]> OrRandom(Gen<byte[]> valid) =>
        Gen.Frequency((1, Gen.Byte.Array[0, 64]), (1, Gen.Byte.Array[0, 2048]), (6, Of(valid)));

    /// <summary>Applies <paramref name="count"/> random mutations to a copy of <paramref name="input"/>.</summary>
    public static byte[] Mutate(byte[] input, Random random, int count)
    {
        byte[] data = input;
        for (int i = 0; i < count; i++)
        {
            data = MutateOnce(data, random);
        }

        return ReferenceEquals(data, input) ? (byte[])input.Clone() : data;
    }

    private static byte[] MutateOnce(byte[] input, Random random)
    {
        byte[] data = (byte[])input.Clone();
        int kind = random.Next(10);
        if (data.Length == 0)
        {
            kind = 6;
        }

        switch (kind)
        {
            case 0:
                data[random.Next(data.Length)] ^= (byte)(1 << random.Next(8));
                return data;
            case 1:
                data[random.Next(data.Length)] = (byte)random.Next(256);
                return data;
            case 2:
            case 3:
            {
                // A 32-bit field set to an interesting value, at any offset, in either byte order.
                if (data.Length < 4)
                {
                    return data;
                }

                int at = random.Next(data.Length - 3);
                int value = (int)Pick(random, data.Length);
                if (random.Next(2) == 0)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), value);
                }
                else
                {
                    BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(at), value);
                }

                return data;
            }

            case 4:
            {
                if (data.Length < 8)
                {
                    return data;
                }

                int at = random.Next(data.Length - 7);
                long value = Pick(random, data.Length);
                if (random.Next(2) == 0)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(at), value);
                }
                else
                {
                    BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(at), value);
                }

                return data;
            }

            case 5:
                return data[..random.Next(data.Length)];
            case 6:
            {
                byte[] extra = new byte[random.Next(1, 64)];
                random.NextBytes(extra);
                int at = random.Next(data.Length + 1);
                return [.. data.AsSpan(0, at), .. extra, .. data.AsSpan(at)];
            }

            case 7:
            {
                int at = random.Next(data.Length);
                int length = random.Next(1, Math.Min(64, data.Length - at) + 1);
                return [.. data.AsSpan(0, at), .. data.AsSpan(at + length)];
            }

            case 8:
            {
                int at = random.Next(data.Length);
                int length = random.Next(1, Math.Min(256, data.Length - at) + 1);
                int to = random.Next(data.Length + 1);
                return [.. data.AsSpan(0, to), .. data.AsSpan(at, length), .. data.AsSpan(to)];
            }

            default:
            {
                int at = random.Next(data.Length);
                int length = random.Next(1, Math.Min(32, data.Length - at) + 1);
                random.NextBytes(data.AsSpan(at, length));
                return data;
            }
        }
    }

    private static long Pick(Random random, int length) => random.Next(4) switch
    {
        0 => length + random.Next(-2, 3),
        _ => Interesting[random.Next(Interesting.Length)],
    };
}
