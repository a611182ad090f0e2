using System.Buffers;
using System.Buffers.Binary;
using DistributedLog.Bookie.IO;
using DistributedLog.Protocol.Checksums;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Journal;

/// <summary>Receives the records found when replaying the journal.</summary>
public interface IJournalReplayVisitor
{
    /// <summary>Called for each valid record in journal order; <paramref name="body"/> excludes the type byte.</summary>
    void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body);
}

/// <summary>What a replay found.</summary>
/// <param name="FilesScanned">Journal files read.</param>
/// <param name="Records">Valid records replayed.</param>
/// <param name="End">Where the replayed data ends.</param>
/// <param name="TornTails">Files whose data ended in a record that failed its checksum or ran past the file (cut, not replayed).</param>
public readonly record struct JournalReplayResult(int FilesScanned, long Records, LogMark End, int TornTails);

public sealed partial class Journal
{
    /// <summary>
    /// Replays every record after <paramref name="from"/> in journal order. Each file's data ends at its first zero length;
    /// a record that fails its checksum or runs past the file is a torn tail: it and what follows in that file are cut,
    /// never returned (logged as a warning). In a recycled file, bytes that are not a record of this file (an impossible
    /// length, or a record of the file it was recycled from) are the plain end of its records, logged at debug level.
    /// Must be called before <see cref="Start"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The journal file the checkpoint points into is missing or unreadable.</exception>
    public JournalReplayResult Replay(LogMark from, IJournalReplayVisitor visitor)
    {
        if (_writerThread is not null)
        {
            throw new InvalidOperationException("Replay must run before the journal starts.");
        }

        var files = ListFiles().Where(f => f.FileId >= from.FileId).ToList();
        if (from.FileId != 0 && (files.Count == 0 || files[0].FileId != from.FileId))
        {
            throw new InvalidDataException(
                $"Journal file {JournalFormat.FileName(from.FileId)} named by the checkpoint is missing from '{_options.Directory}'; " +
                "the journal directory does not belong to this ledger directory.");
        }

        long records = 0;
        int tornTails = 0;
        var end = from;
        byte[] window = ArrayPool<byte>.Shared.Rent(4 << 20);
        try
        {
            foreach (var (fileId, path) in files)
            {
                using var file = DurableFile.OpenExisting(path, writable: false);
                long length = file.Length;
                Span<byte> header = window.AsSpan(0, JournalFormat.FileHeaderSize);
                string? problem = file.Read(0, header) < header.Length ? "file is shorter than its header" : JournalFormat.ValidateFileHeader(header, fileId);
                if (problem is not null)
                {
                    // A file whose header never became durable holds no acknowledged record (the header is synced before use).
                    _logger.LogWarning("Skipping journal file {Path}: {Problem}", path, problem);
                    continue;
                }

                long recycledFrom = JournalFormat.RecycledFrom(header);
                long pos = fileId == from.FileId ? Math.Max(from.Offset, JournalFormat.FileHeaderSize) : JournalFormat.FileHeaderSize;
                var reader = new WindowReader(file, length, window);
                uint seed = JournalFormat.Seed(fileId);
                while (true)
                {
                    if (pos + JournalFormat.RecordHeaderSize > length)
                    {
                        break;
                    }

                    ReadOnlySpan<byte> recordHeader = reader.Get(pos, JournalFormat.RecordHeaderSize);
                    int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(recordHeader);
                    uint crc = BinaryPrimitives.ReadUInt32LittleEndian(recordHeader[4..]);
                    if (bodyLength == 0 && crc == 0)
                    {
                        break;
                    }

                    if (bodyLength <= 0 || bodyLength > PackagedEntryLimit + 16 || pos + JournalFormat.RecordHeaderSize + bodyLength > length)
                    {
                        if (recycledFrom != 0)
                        {
                            // Not a record header of this file: the middle of an old record of the file it was recycled from.
                            _logger.LogDebug("Journal file {Path}: end of this file's records at {Offset} (stale bytes of a recycled file follow)", path, pos);
                            break;
                        }

                        tornTails++;
                        _logger.LogWarning("Journal file {Path}: record at {Offset} declares {Length} bytes; cutting the torn tail", path, pos, bodyLength);
                        break;
                    }

                    ReadOnlySpan<byte> body = reader.Get(pos + JournalFormat.RecordHeaderSize, bodyLength);
                    if (Crc32C.Compute(body, seed) != crc)
                    {
                        if (recycledFrom != 0 && Crc32C.Compute(body, JournalFormat.Seed(recycledFrom)) == crc)
                        {
                            _logger.LogDebug("Journal file {Path}: end of this file's records at {Offset} (stale records of recycled file {Old:x16} follow)",
                                path, pos, recycledFrom);
                            break;
                        }

                        tornTails++;
                        _logger.LogWarning("Journal file {Path}: record at {Offset} fails its checksum; cutting the torn tail", path, pos);
                        break;
                    }

                    if (Enum.IsDefined((JournalRecordType)body[0]))
                    {
                        visitor.OnRecord((JournalRecordType)body[0], body[1..]);
                        records++;
                    }
                    else
                    {
                        _logger.LogWarning("Journal file {Path}: skipping record of unknown type {Type} at {Offset}", path, body[0], pos);
                    }

                    pos += JournalFormat.RecordHeaderSize + bodyLength;
                }

                end = new LogMark(fileId, pos);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }

        _nextFileId = (files.Count == 0 ? from.FileId : files[^1].FileId) + 1;
        _logger.LogInformation("Replayed {Records} journal records from {Files} files after checkpoint {From}; end {End}, torn tails cut: {Torn}",
            records, files.Count, from, end, tornTails);
        return new JournalReplayResult(files.Count, records, end, tornTails);
    }

    /// <summary>Reads a file through a window buffer, so that records cost no system call each.</summary>
    private struct WindowReader(DurableFile file, long length, byte[] window)
    {
        private long _start = -1;
        private int _count;

        public ReadOnlySpan<byte> Get(long position, int count)
        {
            if (_start < 0 || position < _start || position + count > _start + _count)
            {
                int want = (int)Math.Min(window.Length, length - position);
                _count = file.Read(position, window.AsSpan(0, want));
                _start = position;
                if (_count < count)
                {
                    throw new InvalidDataException($"Journal file '{file.Path}' ended early at {position + _count}.");
                }
            }

            return window.AsSpan((int)(position - _start), count);
        }
    }
}
