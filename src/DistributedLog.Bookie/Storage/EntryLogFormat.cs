using System.Buffers.Binary;
using System.Globalization;
using DistributedLog.Protocol.Checksums;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// Layout of an entry-log file <c>&lt;dir&gt;/entrylogs/&lt;id: 16 lowercase hex digits&gt;.log</c>. A 32-byte header,
/// little-endian:
/// <code>
/// 0  4 bytes  magic "DLEL"
/// 4  u32      format version (1)
/// 8  i64      entry log id (same as the file name)
/// 16 u32      header size (32): records start here
/// 20 8 bytes  reserved (zero)
/// 28 u32      CRC32C of bytes 0..28
/// </code>
/// then records <c>[u32 length][packaged entry of that many bytes]</c> of many ledgers interleaved (each flush writes its
/// entries sorted by ledger, then entry). A file's tail may hold garbage from a failed flush; nothing indexes it.
/// </summary>
internal static class EntryLogFormat
{
    public const int HeaderSize = 32;
    public const int RecordHeaderSize = 4;
    public const uint Version = 1;
    public const string Extension = ".log";

    private static ReadOnlySpan<byte> Magic => "DLEL"u8;

    public static string FileName(long id) => id.ToString("x16", CultureInfo.InvariantCulture) + Extension;

    public static bool TryParseFileName(string fileName, out long id)
    {
        id = 0;
        return fileName.Length == 16 + Extension.Length
            && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && long.TryParse(fileName.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id)
            && id >= 0;
    }

    public static void WriteHeader(Span<byte> destination, long id)
    {
        destination[..HeaderSize].Clear();
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], id);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], Crc32C.Compute(destination[..28]));
    }

    /// <summary>
    /// Reads the record at the start of <paramref name="data"/> (<c>[u32 length][packaged entry]</c>). Returns false when
    /// the length prefix is cut off, is not a possible packaged-entry size, or runs past <paramref name="data"/>; the
    /// entry's own checksum is not verified here (see <see cref="Wire.PackagedEntry.Validate"/>).
    /// </summary>
    public static bool TryReadRecord(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> entry, out int recordLength)
    {
        entry = default;
        recordLength = 0;
        if (data.Length < RecordHeaderSize)
        {
            return false;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (length < Wire.PackagedEntry.HeaderSize || length > Wire.PackagedEntry.MaxSize || length > (uint)(data.Length - RecordHeaderSize))
        {
            return false;
        }

        entry = data.Slice(RecordHeaderSize, (int)length);
        recordLength = RecordHeaderSize + (int)length;
        return true;
    }

    /// <summary>Checks a header; returns null when it is valid for log <paramref name="id"/>, or what is wrong.</summary>
    public static string? ValidateHeader(ReadOnlySpan<byte> header, long id)
    {
        if (header.Length < HeaderSize)
        {
            return $"header is {header.Length} bytes, expected {HeaderSize}";
        }

        if (!header[..4].SequenceEqual(Magic))
        {
            return "bad magic";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(header[28..]) != Crc32C.Compute(header[..28]))
        {
            return "header checksum mismatch";
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (version != Version)
        {
            return $"unsupported version {version}";
        }

        long stored = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        return stored == id ? null : $"header names log {stored:x16}";
    }
}
