using System.Buffers.Binary;
using DistributedLog.Bookie.IO;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// Appends records to the entry log being written, gathering them in a buffer so that many entries cost one positional
/// write. Not thread-safe: only the holder of the storage's flush gate writes.
/// </summary>
internal sealed class EntryLogWriter
{
    private readonly byte[] _buffer;
    private int _buffered;
    private long _bufferStart;

    public EntryLogWriter(long id, DurableFile file, byte[] buffer)
    {
        Id = id;
        File = file;
        _buffer = buffer;
        EntryLogFormat.WriteHeader(_buffer, id);
        _buffered = EntryLogFormat.HeaderSize;
    }

    public long Id { get; }

    public DurableFile File { get; }

    /// <summary>The logical end of the log (written plus buffered bytes).</summary>
    public long Position => _bufferStart + _buffered;

    /// <summary>Appends one record and returns the file offset of the entry bytes (after the length prefix).</summary>
    public long Append(ReadOnlySpan<byte> entry)
    {
        int record = EntryLogFormat.RecordHeaderSize + entry.Length;
        if (record > _buffer.Length - _buffered)
        {
            FlushBuffer();
        }

        long entryOffset = Position + EntryLogFormat.RecordHeaderSize;
        if (record <= _buffer.Length)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_buffered), (uint)entry.Length);
            entry.CopyTo(_buffer.AsSpan(_buffered + EntryLogFormat.RecordHeaderSize));
            _buffered += record;
        }
        else
        {
            // Larger than the whole buffer (only with a tiny buffer): write it through.
            Span<byte> prefix = stackalloc byte[EntryLogFormat.RecordHeaderSize];
            BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)entry.Length);
            File.Write(_bufferStart, prefix);
            File.Write(entryOffset, entry);
            _bufferStart += record;
        }

        return entryOffset;
    }

    /// <summary>Writes the buffered records to the file (not yet durable).</summary>
    public void FlushBuffer()
    {
        if (_buffered == 0)
        {
            return;
        }

        File.Write(_bufferStart, _buffer.AsSpan(0, _buffered));
        File.StartWriteback(_bufferStart, _buffered);
        _bufferStart += _buffered;
        _buffered = 0;
    }

    /// <summary>Writes the buffered records and makes the file durable (<c>fdatasync</c>).</summary>
    public void Sync()
    {
        FlushBuffer();
        File.Sync();
    }
}
