using System.Buffers.Binary;
using DistributedLog.Bookie.Journal;
using DistributedLog.Protocol.Checksums;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// Tears the tail of a killed bookie's newest journal file, as a crash in the middle of a write does: right after the
/// last whole record it writes either random garbage (a record header and body that were never completed) or the first
/// part of a copy of the last record (a record cut mid-way). The records before stay intact, so nothing the bookie
/// acknowledged is touched; its replay must cut the torn tail and keep everything before it.
/// </summary>
internal static class JournalTail
{
    /// <summary>Tears the newest journal file under <paramref name="journalDirectory"/>; returns what was done.</summary>
    /// <param name="journalDirectory">The journal directory of a bookie that is not running.</param>
    /// <param name="variant">Drawn from the run's seed: chooses garbage or a cut record, and the bytes.</param>
    public static async Task<string> TearAsync(string journalDirectory, int variant)
    {
        var random = new Random(variant);
        var files = Directory.EnumerateFiles(journalDirectory)
            .Select(path => (Path: path, Ok: JournalFormat.TryParseFileName(Path.GetFileName(path), out long id), Id: id))
            .Where(f => f.Ok)
            .OrderByDescending(f => f.Id)
            .ToList();
        if (files.Count == 0)
        {
            return $"no journal file in {journalDirectory}";
        }

        // The newest file holding records (the bookie preallocates the next file before it needs it, so the newest one may
        // still be empty); the newest file if none has any.
        (string Path, long Id, byte[] Bytes, int End, int LastStart)? target = null;
        foreach (var file in files)
        {
            byte[] content = await File.ReadAllBytesAsync(file.Path);
            var (fileEnd, fileLastStart) = Scan(content, file.Id);
            target ??= (file.Path, file.Id, content, fileEnd, fileLastStart);
            if (fileLastStart >= 0)
            {
                target = (file.Path, file.Id, content, fileEnd, fileLastStart);
                break;
            }
        }

        var (newestPath, _, bytes, end, lastStart) = target!.Value;
        byte[] tail;
        string what;
        if (lastStart >= 0 && random.Next(2) == 0)
        {
            // The first part of a copy of the last record: its header, then the body cut before its last non-zero byte,
            // so that the bytes that follow (zeros or stale data) cannot complete it into a record that passes its checksum.
            int bodyLength = end - lastStart - JournalFormat.RecordHeaderSize;
            var body = bytes.AsSpan(lastStart + JournalFormat.RecordHeaderSize, bodyLength);
            int lastNonZero = body.LastIndexOfAnyExcept((byte)0);
            int keep = random.Next(Math.Max(lastNonZero, 0) + 1);
            tail = bytes.AsSpan(lastStart, JournalFormat.RecordHeaderSize + keep).ToArray();
            what = $"a copy of the last record ({bodyLength} bytes) cut after {keep} bytes of its body";
        }
        else
        {
            tail = new byte[1 + random.Next(4096)];
            random.NextBytes(tail);
            tail[0] |= 1; // a zero length would read as the end of the data, not as a torn record
            what = $"{tail.Length} bytes of garbage";
        }

        await using (var file = new FileStream(newestPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            file.Position = end;
            await file.WriteAsync(tail);
            await file.FlushAsync();
        }

        return $"{Path.GetFileName(newestPath)}: {what} written at offset {end}, after its last whole record";
    }

    /// <summary>The end of the whole records of a journal file (where the next record would go) and the start of the last one (-1: none).</summary>
    private static (int End, int LastStart) Scan(byte[] bytes, long fileId)
    {
        uint seed = JournalFormat.Seed(fileId);
        int end = JournalFormat.FileHeaderSize;
        int lastStart = -1;
        while (end + JournalFormat.RecordHeaderSize <= bytes.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end));
            if (length == 0 || length > bytes.Length - end - JournalFormat.RecordHeaderSize)
            {
                break;
            }

            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end + 4));
            if (Crc32C.Compute(bytes.AsSpan(end + JournalFormat.RecordHeaderSize, (int)length), seed) != crc)
            {
                break;
            }

            lastStart = end;
            end += JournalFormat.RecordHeaderSize + (int)length;
        }

        return (end, lastStart);
    }
}
