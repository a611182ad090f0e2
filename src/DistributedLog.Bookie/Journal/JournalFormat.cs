using System.Buffers.Binary;
using DistributedLog.Protocol.Checksums;

namespace DistributedLog.Bookie.Journal;

/// <summary>Kinds of journal records.</summary>
public enum JournalRecordType : byte
{
    /// <summary>A packaged entry that was added.</summary>
    AddEntry = 1,
    /// <summary>A ledger's master key, written before the first add of that ledger after each start.</summary>
    MasterKey = 2,
    /// <summary>A ledger was fenced.</summary>
    Fence = 3,
}

/// <summary>
/// The journal's on-disk format. A journal file (<c>&lt;id as 16 hex digits&gt;.jnl</c>) is preallocated, starts with a
/// <see cref="FileHeaderSize"/>-byte header and holds records back to back:
/// <code>
/// header: u32 magic "DLJN" | u32 version | u64 fileId | u32 crc32c(bytes 0..16)
///         | i64 recycledFrom | u32 crc32c(bytes 20..28)   (zero for a fresh file) | zero padding
/// record: u32 bodyLength | u32 crc32c(body, seed = fileId) | body = u8 type | type-specific bytes
///   AddEntry:  the packaged entry
///   MasterKey: i64 ledgerId | u8 keyLength | key
///   Fence:     i64 ledgerId
/// </code>
/// All integers little-endian. A zero length marks the end of written data (files are zero-filled ahead);
/// a record whose length runs past the file or whose checksum fails is a torn tail and ends the file's data.
/// Seeding the checksum with the file id means stale bytes of another file never pass as this file's records, which
/// lets retired journal files be recycled without zero-filling them again; the header of a recycled file names the file
/// it was recycled from, so that replay tells the end of its records (stale bytes follow) from a torn tail.
/// </summary>
public static class JournalFormat
{
    /// <summary>"DLJN" little-endian.</summary>
    public const uint Magic = 0x4E4A4C44;

    /// <summary>Current format version.</summary>
    public const uint Version = 1;

    /// <summary>Size of the file header; the first record starts here.</summary>
    public const int FileHeaderSize = 512;

    /// <summary>Size of a record header (length and checksum).</summary>
    public const int RecordHeaderSize = 8;

    /// <summary>File name of journal file <paramref name="fileId"/>.</summary>
    public static string FileName(long fileId) => $"{fileId:x16}.jnl";

    /// <summary>Parses a journal file name; false if it is not one.</summary>
    public static bool TryParseFileName(string name, out long fileId)
    {
        fileId = 0;
        return name.Length == 20 && name.EndsWith(".jnl", StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(0, 16), System.Globalization.NumberStyles.AllowHexSpecifier, null, out fileId);
    }

    /// <summary>Writes a file header.</summary>
    /// <param name="destination">At least <see cref="FileHeaderSize"/> bytes.</param>
    /// <param name="fileId">The file's id.</param>
    /// <param name="recycledFrom">The id of the retired file whose blocks this file reuses (its stale records follow this
    /// file's own), or 0 for a fresh file.</param>
    public static void WriteFileHeader(Span<byte> destination, long fileId, long recycledFrom = 0)
    {
        destination[..FileHeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], fileId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Crc32C.Compute(destination[..16]));
        if (recycledFrom != 0)
        {
            // Bytes 20..32 were zero padding in version 1, so older readers ignore them.
            BinaryPrimitives.WriteInt64LittleEndian(destination[20..], recycledFrom);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], Crc32C.Compute(destination[20..28]));
        }
    }

    /// <summary>The id of the retired file a journal file was recycled from (see <see cref="WriteFileHeader"/>), or 0 for a
    /// fresh file or a header written before this was recorded.</summary>
    public static long RecycledFrom(ReadOnlySpan<byte> header)
    {
        long from = BinaryPrimitives.ReadInt64LittleEndian(header[20..]);
        return from != 0 && BinaryPrimitives.ReadUInt32LittleEndian(header[28..]) == Crc32C.Compute(header[20..28]) ? from : 0;
    }

    /// <summary>Checks a file header; returns null when valid, else what is wrong.</summary>
    public static string? ValidateFileHeader(ReadOnlySpan<byte> header, long expectedFileId)
    {
        if (header.Length < FileHeaderSize)
        {
            return "file is shorter than its header";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            return "bad magic";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(header[16..]) != Crc32C.Compute(header[..16]))
        {
            return "header checksum mismatch";
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (version != Version)
        {
            return $"unsupported version {version}";
        }

        long fileId = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        return fileId == expectedFileId ? null : $"header names file {fileId:x16}";
    }

    /// <summary>The checksum seed of records in file <paramref name="fileId"/>.</summary>
    public static uint Seed(long fileId) => (uint)fileId ^ (uint)(fileId >> 32) ^ 0x9E3779B9u;

    /// <summary>Decodes a MasterKey record body (after the type byte): <c>i64 ledgerId | u8 keyLength | key</c>, nothing after it.</summary>
    public static bool TryReadMasterKey(ReadOnlySpan<byte> body, out long ledgerId, out ReadOnlySpan<byte> key)
    {
        ledgerId = 0;
        key = default;
        if (body.Length < 9 || body.Length != 9 + body[8])
        {
            return false;
        }

        ledgerId = BinaryPrimitives.ReadInt64LittleEndian(body);
        key = body.Slice(9, body[8]);
        return ledgerId >= 0;
    }

    /// <summary>Decodes a Fence record body (after the type byte): <c>i64 ledgerId</c>.</summary>
    public static bool TryReadFence(ReadOnlySpan<byte> body, out long ledgerId)
    {
        ledgerId = body.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(body) : 0;
        return body.Length == 8 && ledgerId >= 0;
    }

    /// <summary>Fills in the checksum of the record whose header starts at <paramref name="record"/>.</summary>
    public static void Seal(Span<byte> record, long fileId)
    {
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(record);
        uint crc = Crc32C.Compute(record.Slice(RecordHeaderSize, bodyLength), Seed(fileId));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], crc);
    }
}
