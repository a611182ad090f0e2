using System.Buffers;
using CsCheck;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Tests;

/// <summary>One item added to an entry: a plain record, or a record set (Set non-null).</summary>
public sealed record Item(long TxId, LogRecordFlags Flags, byte[] Payload, byte[][]? Set, CompressionCodec SetCodec)
{
    public int Slots => Set?.Length ?? 1;

    public override string ToString() =>
        Set is null ? $"Record(tx={TxId}, {Flags}, {Payload.Length}B)" : $"Set(tx={TxId}, {Set.Length} records, {SetCodec})";
}

/// <summary>A record as decoded, copied out of the view.</summary>
public sealed record Decoded(long TxId, LogRecordFlags Flags, int Position, long Slot, byte[] Payload)
{
    public bool Same(Decoded other) =>
        TxId == other.TxId && Flags == other.Flags && Position == other.Position && Slot == other.Slot
        && Payload.AsSpan().SequenceEqual(other.Payload);
}

public static class TestEntries
{
    public static readonly Gen<byte[]> RandomPayload = Gen.Byte.Array[0, 300];

    public static readonly Gen<byte[]> CompressiblePayload =
        Gen.Select(Gen.Int[0, 400], Gen.Byte[0, 3], (n, b) => Enumerable.Range(0, n).Select(i => (byte)((i % 7) + b)).ToArray());

    public static readonly Gen<byte[]> Payload = Gen.OneOf(RandomPayload, CompressiblePayload);

    public static readonly Gen<long> UserTxId = Gen.OneOf(Gen.Long[0, long.MaxValue - 1], Gen.Long[0, 1000]);

    public static readonly Gen<CompressionCodec> Codec = Gen.OneOfConst(CompressionCodec.None, CompressionCodec.Lz4);

    public static readonly Gen<Item> PlainItem = Gen.Select(UserTxId, Payload, (tx, p) => new Item(tx, LogRecordFlags.None, p, null, CompressionCodec.None));

    public static readonly Gen<Item> ControlItem = Gen.Select(Gen.Long[0, 1000], Gen.Bool, (tx, eos) => eos
        ? new Item(LogRecord.EndOfStreamTxId, LogRecordFlags.Control | LogRecordFlags.EndOfStream, LogRecord.EndOfStreamPayload.ToArray(), null, CompressionCodec.None)
        : new Item(tx, LogRecordFlags.Control, LogRecord.ControlPayload.ToArray(), null, CompressionCodec.None));

    public static readonly Gen<Item> SetItem = Gen.Select(UserTxId, Payload.Array[1, 12], Codec,
        (tx, records, codec) => new Item(tx, LogRecordFlags.RecordSet, [], records, codec));

    public static readonly Gen<Item> AnyItem = Gen.Frequency((5, PlainItem), (1, ControlItem), (3, SetItem));

    public static readonly Gen<Item[]> Items = AnyItem.Array[0, 20];

    /// <summary>Writes the items into an entry with positions from <paramref name="firstPosition"/>; returns the sealed bytes.</summary>
    public static byte[] Write(IReadOnlyList<Item> items, CompressionCodec codec, int firstPosition = 1)
    {
        using var writer = new EntryWriter(64);
        using var set = new RecordSetWriter(16);
        int position = firstPosition;
        foreach (Item item in items)
        {
            if (item.Set is null)
            {
                Assert.True(writer.TryAdd(item.TxId, item.Flags, item.Payload, position));
            }
            else
            {
                set.Reset();
                foreach (byte[] r in item.Set)
                {
                    Assert.True(set.TryAdd(r));
                }

                Assert.True(writer.TryAddRecordSet(set, item.TxId, position, item.SetCodec));
            }

            position += item.Slots;
        }

        Assert.Equal(items.Count, writer.Count);
        Assert.Equal(items.Sum(i => i.Slots), writer.SlotCount);
        var output = new ArrayBufferWriter<byte>();
        int written = writer.Seal(codec, output);
        Assert.Equal(output.WrittenCount, written);
        Assert.True(written <= writer.EstimatedSize);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>What reading the entry must give.</summary>
    public static List<Decoded> Expected(IReadOnlyList<Item> items, int firstPosition = 1)
    {
        var result = new List<Decoded>();
        int position = firstPosition;
        long slot = 0;
        foreach (Item item in items)
        {
            if (item.Set is null)
            {
                result.Add(new Decoded(item.TxId, item.Flags, position++, slot++, item.Payload));
            }
            else
            {
                foreach (byte[] r in item.Set)
                {
                    result.Add(new Decoded(item.TxId, LogRecordFlags.None, position++, slot++, r));
                }
            }
        }

        return result;
    }

    public static List<Decoded> Read(ReadOnlySpan<byte> entry, EntryReader? reader = null)
    {
        EntryReader r = reader ?? new EntryReader();
        try
        {
            var result = new List<Decoded>();
            EntryRecordEnumerator records = r.Read(entry);
            int count = records.Count;
            foreach (LogRecordView v in records)
            {
                result.Add(new Decoded(v.TxId, v.Flags, v.PositionWithinSegment, v.SlotId, v.Payload.ToArray()));
            }

            Assert.Equal(count, result.Count);
            return result;
        }
        finally
        {
            if (reader is null)
            {
                r.Dispose();
            }
        }
    }

    public static void AssertSame(List<Decoded> expected, List<Decoded> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Same(actual[i]), $"record {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    /// <summary>Reading must fail with one of the typed corruption errors.</summary>
    public static void AssertRejected(ReadOnlySpan<byte> entry, EntryReader? reader = null)
    {
        Exception? error = null;
        try
        {
            Read(entry, reader);
        }
        catch (Exception e)
        {
            error = e;
        }

        Assert.True(error is ChecksumFailedException or InvalidEnvelopedEntryException,
            error is null ? "corrupt entry was accepted" : $"wrong exception type: {error}");
    }

    /// <summary>Builds an envelope with a correct checksum around arbitrary payload bytes.</summary>
    public static byte[] Envelope(ReadOnlySpan<byte> stored, CompressionCodec codec, int decompressedLength)
    {
        byte[] entry = new byte[EntryFormat.HeaderSize + stored.Length];
        stored.CopyTo(entry.AsSpan(EntryFormat.HeaderSize));
        EntryFormat.WriteHeader(entry, codec, decompressedLength, stored.Length);
        return entry;
    }
}
