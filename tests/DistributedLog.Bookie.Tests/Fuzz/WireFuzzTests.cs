using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using DistributedLog.Bookie.Wire;
using DistributedLog.Fuzzing;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Tests.Fuzz;

/// <summary>
/// Fuzzes the bookie wire decoders — framing, request bodies of every operation (handshake included), response frames and
/// packaged entries — over random bytes and mutated valid frames. Properties: only the documented outcome (a verdict, a
/// <see cref="WireProtocolException"/>, a <see cref="ChecksumFailedException"/>), never another exception; what is
/// accepted is consistent; no allocation sized by a declared length (framing allocates nothing at all).
/// </summary>
public sealed class WireFuzzTests
{
    private const int Iterations = 3000;

    private static readonly Gen<byte[]> Key = Gen.Byte.Array[0, 70];

    private static readonly Gen<byte[]> ValidEntry = Gen.Select(Gen.Long[0, 1000], Gen.Long[0, 1000], Gen.Long[-1, 1000], Gen.Byte.Array[0, 300],
        (ledger, entry, lac, payload) =>
        {
            byte[] bytes = new byte[PackagedEntry.SizeOf(payload.Length)];
            PackagedEntry.Write(bytes, ledger, entry, lac, payload.Length, payload);
            return bytes;
        });

    /// <summary>Valid request frames (after the length prefix) of every operation.</summary>
    private static readonly Gen<byte[]> ValidRequest = Gen.OneOf(
        Gen.Select(Gen.UShort[0, 2], Gen.UShort[0, 3], Gen.ULong, (min, max, id) => Request(BookieOp.Handshake, 0, id, b =>
        {
            b.Write32(BookieProtocol.Magic);
            b.Write16(min);
            b.Write16(max);
        })),
        Gen.Select(Key, ValidEntry, Gen.Byte, Gen.ULong, (key, entry, flags, id) => Request(BookieOp.AddEntry, flags, id, b =>
        {
            b.Add((byte)key.Length);
            b.AddRange(key);
            b.AddRange(entry);
        })),
        Gen.Select(Gen.Long[-2, 100], Gen.Long[-2, 100], Key, Gen.Byte, Gen.ULong, (ledger, entry, key, flags, id) => Request(BookieOp.ReadEntry, flags, id, b =>
        {
            b.Write64(ledger);
            b.Write64(entry);
            b.Add((byte)key.Length);
            b.AddRange(key);
        })),
        Gen.Select(Gen.Long[-2, 100], Gen.Long[-2, 100], Gen.UInt, Gen.ULong, (ledger, entry, timeout, id) => Request(BookieOp.LongPollRead, 0, id, b =>
        {
            b.Write64(ledger);
            b.Write64(entry);
            b.Write32(timeout);
        })),
        Gen.Select(Gen.Long[-2, 100], Key, Gen.ULong, (ledger, key, id) => Request(BookieOp.Fence, 0, id, b =>
        {
            b.Write64(ledger);
            b.Add((byte)key.Length);
            b.AddRange(key);
        })),
        Gen.Select(Gen.Long[-2, 100], Gen.ULong, Gen.Bool, (ledger, id, lac) => Request(lac ? BookieOp.ReadLac : BookieOp.DeleteLedger, 0, id, b => b.Write64(ledger))),
        Gen.Select(Gen.Byte, Gen.ULong, Gen.Byte.Array[0, 40], (op, id, body) => Request((BookieOp)op, 0, id, b => b.AddRange(body))));

    [Fact(Timeout = 60_000)]
    public Task Request_decoder_never_throws_and_what_it_accepts_is_consistent() => Task.Run(() =>
        Mutations.OrRandom(ValidRequest).Sample(frame =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var verdict = BookieRequest.Decode(frame, out var request, out string? problem);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 4096, $"decoding a {frame.Length}-byte frame allocated {allocated} bytes");
            Assert.Equal(verdict == RequestVerdict.Valid, problem is null);
            if (frame.Length >= BookieProtocol.HeaderSize)
            {
                Assert.Equal(BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(4)), request.RequestId);
            }

            if (verdict != RequestVerdict.Valid)
            {
                return;
            }

            Assert.True(request.MasterKey.Length <= BookieProtocol.MaxMasterKeyLength);
            switch (request.Op)
            {
                case BookieOp.AddEntry:
                    Assert.True(request.Entry.Length >= PackagedEntry.HeaderSize);
                    Assert.Equal(frame.Length, BookieProtocol.HeaderSize + 1 + request.MasterKey.Length + request.Entry.Length);
                    Assert.Equal(PackagedEntry.LedgerId(request.Entry), request.LedgerId);
                    break;
                case BookieOp.ReadEntry:
                    Assert.True(request.LedgerId >= 0 && request.EntryId >= -1);
                    break;
                case BookieOp.LongPollRead:
                    Assert.True(request.LedgerId >= 0 && request.EntryId >= 0);
                    break;
                case BookieOp.ReadLac or BookieOp.Fence or BookieOp.DeleteLedger:
                    Assert.True(request.LedgerId >= 0);
                    break;
                case BookieOp.Handshake:
                    Assert.True(request.MinVersion <= BookieProtocol.Version && request.MaxVersion >= BookieProtocol.Version);
                    break;
                case BookieOp.Ping:
                    break;
                default:
                    Assert.Fail($"unknown op {(byte)request.Op} accepted");
                    break;
            }
        }, iter: Iterations));

    [Fact(Timeout = 60_000)]
    public Task Framing_of_random_streams_in_random_segments_throws_only_WireProtocolException_and_allocates_nothing() => Task.Run(() =>
        Gen.Select(Gen.Frequency((1, Gen.Byte.Array[0, 3000]), (3, Mutations.Of(ValidRequest.Array[1, 6].Select(Prefixed)))), Gen.Int[1, 64], Gen.Bool)
            .Sample((stream, segment, response) =>
            {
                int min = response ? BookieFraming.MinResponseLength : BookieProtocol.HeaderSize;
                var buffer = Segmented(stream, segment);
                long consumed = 0;
                while (true)
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    bool took;
                    ReadOnlySequence<byte> frame;
                    try
                    {
                        took = BookieFraming.TryTakeFrame(ref buffer, min, out frame);
                    }
                    catch (WireProtocolException e)
                    {
                        Assert.Contains("frame length", e.Message);
                        int declared = BinaryPrimitives.ReadInt32LittleEndian(stream.AsSpan((int)consumed));
                        Assert.True(declared < min || declared > BookieProtocol.MaxFrameSize);
                        return;
                    }

                    Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
                    if (!took)
                    {
                        Assert.Equal(stream.Length - consumed, buffer.Length);
                        return;
                    }

                    Assert.InRange(frame.Length, min, BookieProtocol.MaxFrameSize);
                    consumed += BookieProtocol.LengthPrefixSize + frame.Length;
                    Assert.Equal(stream.Length - consumed, buffer.Length);
                }
            }, iter: Iterations));

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(BookieProtocol.MaxFrameSize + 1)]
    public void A_huge_declared_frame_length_is_refused_on_its_prefix_alone(int declared)
    {
        byte[] prefix = new byte[BookieProtocol.LengthPrefixSize + 8];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, declared);
        var buffer = new ReadOnlySequence<byte>(prefix);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<WireProtocolException>(() => BookieFraming.TryTakeFrame(ref buffer, BookieProtocol.HeaderSize, out _));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4096);
        Assert.Equal(StatusCode.ProtocolError, error.Code);
    }

    [Fact(Timeout = 60_000)]
    public Task Response_decoder_throws_only_WireProtocolException() => Task.Run(() =>
        Mutations.OrRandom(Gen.Select(Gen.Byte[1, 8], Gen.ULong, Gen.Int, Gen.Long, ValidEntry, Gen.Bool, (op, id, status, a, payload, withPayload) =>
                Request((BookieOp)(op | BookieProtocol.ResponseBit), 0, id, b =>
                {
                    b.Write32((uint)status);
                    b.Write64(a);
                    b.Write64(a + 1);
                    b.Write64(a + 2);
                    if (withPayload)
                    {
                        b.AddRange(payload);
                    }
                })))
            .Sample(frame =>
            {
                try
                {
                    var response = BookieFraming.DecodeResponse(frame);
                    Assert.Equal(frame.Length - BookieFraming.MinResponseLength, response.Payload.Length);
                    Assert.True(((byte)response.Op & BookieProtocol.ResponseBit) == 0);
                }
                catch (WireProtocolException)
                {
                    Assert.True(frame.Length < BookieFraming.MinResponseLength || (frame[0] & BookieProtocol.ResponseBit) == 0);
                }
            }, iter: Iterations));

    [Fact(Timeout = 60_000)]
    public Task Packaged_entry_checks_raise_only_ChecksumFailed_even_with_a_valid_checksum() => Task.Run(() =>
        Gen.Select(Mutations.OrRandom(ValidEntry), Gen.Bool).Sample((entry, reseal) =>
        {
            if (reseal && entry.Length >= PackagedEntry.HeaderSize)
            {
                // Recompute the checksum after the damage, so the length and id checks are what must catch it.
                uint crc = Protocol.Checksums.Crc32C.Append(Protocol.Checksums.Crc32C.Start(), entry.AsSpan(0, 36));
                crc = Protocol.Checksums.Crc32C.Finish(Protocol.Checksums.Crc32C.Append(crc, entry.AsSpan(PackagedEntry.HeaderSize)));
                BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(36), crc);
            }

            string? problem = PackagedEntry.Validate(entry);
            if (problem is null)
            {
                Assert.True(PackagedEntry.LedgerId(entry) >= 0 && PackagedEntry.EntryId(entry) >= 0);
                Assert.Equal(entry.Length - PackagedEntry.HeaderSize, PackagedEntry.Payload(entry).Length);
                PackagedEntry.Verify(entry, PackagedEntry.LedgerId(entry), PackagedEntry.EntryId(entry), "fuzz");
            }
            else
            {
                long ledger = entry.Length >= 8 ? BinaryPrimitives.ReadInt64LittleEndian(entry) : 0;
                Assert.Throws<ChecksumFailedException>(() => PackagedEntry.Verify(entry, ledger, 0, "fuzz"));
            }
        }, iter: Iterations));

    // ---------------------------------------------------------------- helpers

    private static byte[] Request(BookieOp op, byte flags, ulong requestId, Action<List<byte>> body)
    {
        var bytes = new List<byte> { (byte)op, flags, 0, 0 };
        bytes.Write64((long)requestId);
        body(bytes);
        return [.. bytes];
    }

    /// <summary>Frames with their length prefixes, back to back.</summary>
    private static byte[] Prefixed(byte[][] frames)
    {
        var stream = new List<byte>();
        foreach (byte[] frame in frames)
        {
            stream.Write32((uint)frame.Length);
            stream.AddRange(frame);
        }

        return [.. stream];
    }

    /// <summary>The bytes as a sequence of segments of at most <paramref name="size"/> bytes, as a pipe delivers them.</summary>
    private static ReadOnlySequence<byte> Segmented(byte[] bytes, int size)
    {
        if (bytes.Length <= size)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new Segment(bytes.AsMemory(0, size), 0);
        var last = first;
        for (int at = size; at < bytes.Length; at += size)
        {
            last = last.Append(bytes.AsMemory(at, Math.Min(size, bytes.Length - at)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

internal static class ByteListExtensions
{
    public static void Write16(this List<byte> bytes, ushort value)
    {
        bytes.Add((byte)value);
        bytes.Add((byte)(value >> 8));
    }

    public static void Write32(this List<byte> bytes, uint value)
    {
        for (int i = 0; i < 4; i++)
        {
            bytes.Add((byte)(value >> (8 * i)));
        }
    }

    public static void Write64(this List<byte> bytes, long value)
    {
        for (int i = 0; i < 8; i++)
        {
            bytes.Add((byte)(value >> (8 * i)));
        }
    }
}
