using System.Buffers.Binary;
using DistributedLog.Bookie.IO;
using DistributedLog.Protocol.Checksums;

namespace DistributedLog.Bookie.Journal;

/// <summary>
/// The checkpoint record: the <see cref="LogMark"/> up to which ledger storage holds every journaled entry.
/// Kept in the ledger directory (it describes the ledger storage's state) as
/// <c>i64 fileId | i64 offset | u32 crc32c</c>, replaced atomically (write temp, fsync, rename, fsync directory).
/// </summary>
public static class LastMarkFile
{
    /// <summary>The file name inside the ledger directory.</summary>
    public const string FileName = "lastMark";

    /// <summary>Reads the mark; <see cref="LogMark.Zero"/> when there is none yet.</summary>
    /// <exception cref="Protocol.Errors.ChecksumFailedException">The file is corrupt.</exception>
    public static LogMark Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return LogMark.Zero;
        }

        byte[] data = File.ReadAllBytes(path);
        if (data.Length != 20 || BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(16)) != Crc32C.Compute(data.AsSpan(0, 16)))
        {
            throw new Protocol.Errors.ChecksumFailedException($"Checkpoint file '{path}' is corrupt ({data.Length} bytes, checksum mismatch).");
        }

        return new LogMark(BinaryPrimitives.ReadInt64LittleEndian(data), BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(8)));
    }

    /// <summary>Durably replaces the mark.</summary>
    public static void Write(string directory, LogMark mark, IFileFaultInjector? faults = null)
    {
        Span<byte> data = stackalloc byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(data, mark.FileId);
        BinaryPrimitives.WriteInt64LittleEndian(data[8..], mark.Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(data[16..], Crc32C.Compute(data[..16]));
        string path = Path.Combine(directory, FileName);
        string temp = path + ".tmp";
        File.Delete(temp);
        using (var file = DurableFile.Create(temp, 0, zeroFill: false, faults))
        {
            file.Write(0, data);
            file.Sync();
        }

        File.Move(temp, path, overwrite: true);
        DurableFile.SyncDirectory(directory);
    }
}
