using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Tests.Wire;

/// <summary>The typed request/response codec the client encodes with and the bookie decodes with (one layout, one place).</summary>
public sealed class BookieCodecTests
{
    private static byte[] Frame(BookieOp op, byte flags, ulong requestId, int bodyLength, Action<byte[], int> writeBody)
    {
        var frame = new byte[BookieProtocol.LengthPrefixSize + BookieProtocol.HeaderSize + bodyLength];
        int offset = BookieProtocol.WriteHeader(frame, bodyLength, (byte)op, flags, requestId);
        writeBody(frame, offset);
        return frame[BookieProtocol.LengthPrefixSize..];
    }

    [Fact]
    public void Every_request_the_client_encodes_decodes_to_the_same_values()
    {
        byte[] key = [1, 2, 3, 4, 5];
        var entry = new byte[PackagedEntry.SizeOf(3)];
        PackagedEntry.Write(entry, 7, 9, 8, 3, [10, 11, 12]);

        var add = Frame(BookieOp.AddEntry, BookieProtocol.FlagRecoveryAdd, 42, BookieRequest.AddBodyLength(key.Length, entry.Length),
            (f, o) => BookieRequest.WriteAddBody(f.AsSpan(o), key, entry));
        Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(add, out var request, out _));
        Assert.Equal((BookieOp.AddEntry, BookieProtocol.FlagRecoveryAdd, 42UL, 7L, 9L), (request.Op, request.Flags, request.RequestId, request.LedgerId, request.EntryId));
        Assert.Equal(key, request.MasterKey.ToArray());
        Assert.Equal(entry, request.Entry.ToArray());

        var read = Frame(BookieOp.ReadEntry, BookieProtocol.FlagFence, 43, BookieRequest.ReadBodyLength(key.Length),
            (f, o) => BookieRequest.WriteReadBody(f.AsSpan(o), 7, -1, key));
        Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(read, out request, out _));
        Assert.Equal((7L, -1L), (request.LedgerId, request.EntryId));
        Assert.Equal(key, request.MasterKey.ToArray());

        var poll = Frame(BookieOp.LongPollRead, 0, 44, BookieRequest.LongPollBodyLength, (f, o) => BookieRequest.WriteLongPollBody(f.AsSpan(o), 7, 10, 1500));
        Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(poll, out request, out _));
        Assert.Equal((7L, 10L, 1500u), (request.LedgerId, request.EntryId, request.TimeoutMs));

        var fence = Frame(BookieOp.Fence, 0, 45, BookieRequest.FenceBodyLength(key.Length), (f, o) => BookieRequest.WriteFenceBody(f.AsSpan(o), 7, key));
        Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(fence, out request, out _));
        Assert.Equal(7L, request.LedgerId);
        Assert.Equal(key, request.MasterKey.ToArray());

        foreach (var op in new[] { BookieOp.ReadLac, BookieOp.DeleteLedger })
        {
            var frame = Frame(op, 0, 46, BookieRequest.LedgerIdBodyLength, (f, o) => BookieRequest.WriteLedgerIdBody(f.AsSpan(o), 123));
            Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(frame, out request, out _));
            Assert.Equal((op, 123L), (request.Op, request.LedgerId));
        }

        var hello = Frame(BookieOp.Handshake, 0, 47, BookieRequest.HandshakeBodyLength, (f, o) => BookieRequest.WriteHandshakeBody(f.AsSpan(o)));
        Assert.Equal(RequestVerdict.Valid, BookieRequest.Decode(hello, out request, out _));
        Assert.Equal((BookieProtocol.Version, BookieProtocol.Version), (request.MinVersion, request.MaxVersion));
    }

    [Fact]
    public void A_response_head_the_bookie_encodes_decodes_to_the_same_values()
    {
        byte[] payload = [9, 8, 7];
        var frame = new byte[BookieProtocol.LengthPrefixSize + BookieFraming.MinResponseLength + payload.Length];
        int offset = BookieFraming.WriteResponseHead(frame, BookieOp.ReadEntry, 99, StatusCode.LedgerFenced, 1, -2, 3, payload.Length);
        payload.CopyTo(frame, offset);
        Assert.Equal(frame.Length, offset + payload.Length);
        var response = BookieFraming.DecodeResponse(frame.AsSpan(BookieProtocol.LengthPrefixSize));
        Assert.Equal((BookieOp.ReadEntry, 99UL, StatusCode.LedgerFenced, 1L, -2L, 3L), (response.Op, response.RequestId, response.Status, response.A, response.B, response.C));
        Assert.Equal(payload, response.Payload.ToArray());
    }
}
