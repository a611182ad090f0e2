using System.Buffers;
using System.Net.Sockets;

namespace DistributedLog.Bookie.Client;

/// <summary>
/// What a connection sends, gathered: small frames and frame headers are written into pooled chunks, an entry's bytes
/// are referenced where they are (the sender's own pooled buffer, held by <see cref="ISendBufferOwner"/>), and one
/// gather send (<c>sendmsg</c> with an I/O vector) hands everything queued to the socket. No entry is copied per replica.
/// <para>
/// The thread that queues into an idle connection sends at once, on its own thread (no hop to the thread pool; a send
/// into a socket with room completes synchronously); frames queued while a send is in progress go out together with
/// the next one. At most one send is in progress at a time, so frames leave in the order they were queued.
/// </para>
/// </summary>
internal sealed class OutboundQueue
{
    private const int ChunkSize = 16 * 1024;

    private readonly Socket _socket;
    private readonly Action<string> _onFailure;
    private readonly object _gate = new();
    private readonly List<ArraySegment<byte>> _vector = [];
    private List<Item> _queue = new(64);
    private List<Item> _spare = new(64);
    private List<byte[]> _queueArrays = [];
    private List<byte[]> _spareArrays = [];
    private byte[] _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
    private int _chunkUsed;
    private bool _sending;
    private bool _broken;

    public OutboundQueue(Socket socket, Action<string> onFailure)
    {
        _socket = socket;
        _onFailure = onFailure;
    }

    /// <summary>Fills exactly the span it is given.</summary>
    public delegate void Filler<TState>(Span<byte> destination, TState state);

    /// <summary>Queues <paramref name="length"/> bytes written by <paramref name="fill"/>, then (optionally) an entry sent from its owner's buffer.</summary>
    /// <returns>False when the connection is broken (nothing was queued; an owner's reference was not taken).</returns>
    public bool Enqueue<TState>(int length, Filler<TState> fill, TState state, ArraySegment<byte> entry = default, ISendBufferOwner? owner = null)
    {
        lock (_gate)
        {
            if (_broken)
            {
                return false;
            }

            byte[] target;
            int offset;
            if (length > ChunkSize)
            {
                target = ArrayPool<byte>.Shared.Rent(length);
                offset = 0;
                _queueArrays.Add(target);
            }
            else
            {
                if (ChunkSize - _chunkUsed < length)
                {
                    _queueArrays.Add(_chunk); // its queued slices go out with the next send, then it returns to the pool
                    _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    _chunkUsed = 0;
                }

                target = _chunk;
                offset = _chunkUsed;
                _chunkUsed += length;
            }

            fill(target.AsSpan(offset, length), state);
            Append(new Item(target, offset, length, null));
            if (entry.Count > 0)
            {
                owner?.AddRef();
                _queue.Add(new Item(entry.Array!, entry.Offset, entry.Count, owner));
            }

            if (_sending)
            {
                return true;
            }

            _sending = true;
        }

        _ = SendAsync();
        return true;
    }

    /// <summary>Adjacent slices of one chunk travel as one vector element.</summary>
    private void Append(Item item)
    {
        if (_queue.Count > 0)
        {
            var last = _queue[^1];
            if (last.Owner is null && ReferenceEquals(last.Array, item.Array) && last.Offset + last.Count == item.Offset)
            {
                _queue[^1] = last with { Count = last.Count + item.Count };
                return;
            }
        }

        _queue.Add(item);
    }

    private async Task SendAsync()
    {
        List<Item>? batch = null;
        List<byte[]>? arrays = null;
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    if (batch is not null)
                    {
                        _spare = batch;
                        _spareArrays = arrays!;
                        batch = null;
                    }

                    if (_queue.Count == 0 || _broken)
                    {
                        _sending = false;
                        return;
                    }

                    batch = _queue;
                    _queue = _spare;
                    arrays = _queueArrays;
                    _queueArrays = _spareArrays;
                    if (_chunkUsed > 0)
                    {
                        // The chunk being filled has slices in this batch: it goes with the batch, a fresh one takes its place.
                        arrays.Add(_chunk);
                        _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
                        _chunkUsed = 0;
                    }
                }

                foreach (var item in batch)
                {
                    _vector.Add(new ArraySegment<byte>(item.Array, item.Offset, item.Count));
                }

                await _socket.SendAsync(_vector, SocketFlags.None);
                _vector.Clear();
                Recycle(batch, arrays);
            }
        }
        catch (Exception e)
        {
            _vector.Clear();
            if (batch is not null)
            {
                Recycle(batch, arrays!);
            }

            // Whatever failed (a broken or disposed socket), the connection is done: nothing more is sent on it.
            Break();
            _onFailure(e.Message);
        }
    }

    /// <summary>Stops sending for good and releases everything still queued (the connection is closing).</summary>
    public void Break()
    {
        List<Item> left;
        List<byte[]> leftArrays;
        lock (_gate)
        {
            _broken = true;
            if (_sending && _queue.Count == 0)
            {
                return;
            }

            left = _queue;
            leftArrays = _queueArrays;
            _queue = [];
            _queueArrays = [];
        }

        Recycle(left, leftArrays);
    }

    private static void Recycle(List<Item> batch, List<byte[]> arrays)
    {
        foreach (var item in batch)
        {
            item.Owner?.Release();
        }

        foreach (var array in arrays)
        {
            ArrayPool<byte>.Shared.Return(array);
        }

        batch.Clear();
        arrays.Clear();
    }

    private readonly record struct Item(byte[] Array, int Offset, int Count, ISendBufferOwner? Owner);
}
