using System.Buffers.Binary;
using CsCheck;
using DistributedLog.Bookie.Journal;
using DistributedLog.Bookie.Storage;
using DistributedLog.Bookie.Wire;
using DistributedLog.Fuzzing;

namespace DistributedLog.Bookie.Tests.Fuzz;

/// <summary>
/// Fuzzes what a bookie decodes from its own disks after a crash or corruption: journal files (file header, record
/// framing, checksums, and the bodies of records that pass their checksum) through the real <see cref="Journal.Journal.Replay"/>,
/// and entry-log headers and records. Properties: replay never throws on damaged files (bad data is a torn tail or a
/// skipped record), records whose checksum passes still go through body decoders that refuse bad bodies without
/// throwing, declared lengths never size an allocation, and scans always make progress.
/// </summary>
public sealed class StorageFormatFuzzTests : IDisposable
{
    private const long FileId = 0x2A;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "dl-fuzz-journal-" + Guid.NewGuid().ToString("N"));
    private int _next;

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>A journal record body: type byte, then the type's fields (valid, or damaged before sealing).</summary>
    private static readonly Gen<byte[]> ValidBody = Gen.OneOf(
        Gen.Select(Gen.Long[0, 100], Gen.Long[0, 100], Gen.Byte.Array[0, 200], (ledger, entry, payload) =>
        {
            byte[] body = new byte[1 + PackagedEntry.SizeOf(payload.Length)];
            body[0] = (byte)JournalRecordType.AddEntry;
            PackagedEntry.Write(body.AsSpan(1), ledger, entry, entry - 1, 0, payload);
            return body;
        }),
        Gen.Select(Gen.Long[0, 100], Gen.Byte.Array[1, 64], (ledger, key) =>
        {
            byte[] body = new byte[1 + 9 + key.Length];
            body[0] = (byte)JournalRecordType.MasterKey;
            BinaryPrimitives.WriteInt64LittleEndian(body.AsSpan(1), ledger);
            body[9] = (byte)key.Length;
            key.CopyTo(body, 10);
            return body;
        }),
        Gen.Long[0, 100].Select(ledger =>
        {
            byte[] body = new byte[9];
            body[0] = (byte)JournalRecordType.Fence;
            BinaryPrimitives.WriteInt64LittleEndian(body.AsSpan(1), ledger);
            return body;
        }));

    [Fact(Timeout = 120_000)]
    public Task Replay_of_damaged_journal_files_never_throws() => Task.Run(() =>
        Mutations.Of(ValidBody.Array[0, 12].Select(bodies => JournalFile(bodies))).Sample(file =>
        {
            var visitor = Replay(file, out var result);
            Assert.Equal(visitor.Seen, result.Records);
            Assert.True(result.TornTails <= 1);
        }, iter: 300, threads: 1));

    [Fact(Timeout = 120_000)]
    public Task Records_with_damaged_bodies_but_valid_checksums_are_replayed_and_decoded_without_throwing() => Task.Run(() =>
        // Bodies damaged before sealing pass their checksum: the replay hands them on, and the body decoders decide.
        Gen.Select(Mutations.Of(ValidBody).Where(b => b.Length > 0).Array[1, 10], ValidBody.Array[0, 3], (damaged, valid) => (damaged, valid))
            .Sample(t =>
            {
                byte[][] bodies = [.. t.damaged, .. t.valid];
                var visitor = Replay(JournalFile(bodies), out var result);
                Assert.Equal(0, result.TornTails);
                Assert.Equal(bodies.Count(b => Enum.IsDefined((JournalRecordType)b[0])), result.Records);
                Assert.Equal(t.valid.Length, t.valid.Count(b => visitor.Accepted.Contains(b.AsSpan(1).ToArray(), ByteArrays.Comparer)));
            }, iter: 300, threads: 1));

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(601991818)]
    public void A_huge_declared_journal_record_length_is_a_torn_tail_and_allocates_nothing_for_it(int declared)
    {
        byte[] file = JournalFile([[(byte)JournalRecordType.Fence, 1, 0, 0, 0, 0, 0, 0, 0]]);
        _ = Replay(file, out _); // warm the pooled window
        int second = JournalFormat.FileHeaderSize + JournalFormat.RecordHeaderSize + 9;
        file = [.. file[..second], .. new byte[64]];
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(second), declared);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(second + 4), 0xDEADBEEF);
        var visitor = Replay(file, out var result, out long allocated);
        Assert.Equal(1, result.Records);
        Assert.Equal(1, visitor.Seen);
        Assert.Equal(1, result.TornTails);
        Assert.True(allocated < 256 * 1024, $"replay allocated {allocated} bytes");
    }

    [Fact(Timeout = 60_000)]
    public Task Entry_log_header_check_never_throws_and_accepts_only_its_own_header() => Task.Run(() =>
        Mutations.OrRandom(Gen.Long[0, 1000].Select(id =>
        {
            byte[] header = new byte[EntryLogFormat.HeaderSize];
            EntryLogFormat.WriteHeader(header, id);
            return header;
        })).Sample(header =>
        {
            long id = header.Length >= 16 ? BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)) : 0;
            if (EntryLogFormat.ValidateHeader(header, id) is null)
            {
                byte[] expected = new byte[EntryLogFormat.HeaderSize];
                EntryLogFormat.WriteHeader(expected, id);
                Assert.Equal(expected, header[..EntryLogFormat.HeaderSize]);
            }
        }, iter: 3000));

    [Fact(Timeout = 60_000)]
    public Task Entry_log_record_scan_never_throws_and_always_progresses() => Task.Run(() =>
        Mutations.OrRandom(ValidBody.Array[1, 8].Select(bodies =>
        {
            var log = new List<byte>();
            foreach (byte[] body in bodies)
            {
                byte[] prefix = new byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(prefix, body.Length - 1);
                log.AddRange(prefix);
                log.AddRange(body.AsSpan(1).ToArray());
            }

            return log.ToArray();
        })).Sample(data =>
        {
            ReadOnlySpan<byte> rest = data;
            while (EntryLogFormat.TryReadRecord(rest, out var entry, out int recordLength))
            {
                Assert.InRange(entry.Length, PackagedEntry.HeaderSize, PackagedEntry.MaxSize);
                Assert.Equal(EntryLogFormat.RecordHeaderSize + entry.Length, recordLength);
                _ = PackagedEntry.Validate(entry);
                rest = rest[recordLength..];
            }
        }, iter: 3000));

    // ---------------------------------------------------------------- helpers

    /// <summary>A journal file of id <see cref="FileId"/> holding the given record bodies, sealed, then some zero fill.</summary>
    private static byte[] JournalFile(byte[][] bodies)
    {
        int size = JournalFormat.FileHeaderSize + bodies.Sum(b => JournalFormat.RecordHeaderSize + b.Length) + 64;
        byte[] file = new byte[size];
        JournalFormat.WriteFileHeader(file, FileId);
        int at = JournalFormat.FileHeaderSize;
        foreach (byte[] body in bodies)
        {
            BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(at), body.Length);
            body.CopyTo(file, at + JournalFormat.RecordHeaderSize);
            if (body.Length > 0)
            {
                JournalFormat.Seal(file.AsSpan(at), FileId);
            }

            at += JournalFormat.RecordHeaderSize + body.Length;
        }

        return file;
    }

    private Visitor Replay(byte[] file, out JournalReplayResult result) => Replay(file, out result, out _);

    /// <summary>Replays a journal directory holding just <paramref name="file"/>; <paramref name="allocated"/> is what the replay itself allocated.</summary>
    private Visitor Replay(byte[] file, out JournalReplayResult result, out long allocated)
    {
        string dir = Path.Combine(_root, (_next++).ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, JournalFormat.FileName(FileId)), file);
        try
        {
            using var journal = new DistributedLog.Bookie.Journal.Journal(new JournalOptions { Directory = dir, FileSize = 4 << 20, MaxBatchBytes = 2 << 20 });
            var visitor = new Visitor();
            long before = GC.GetAllocatedBytesForCurrentThread();
            result = journal.Replay(LogMark.Zero, visitor);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            return visitor;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Decodes each replayed body as the bookie's recovery does; counts what it accepts.</summary>
    private sealed class Visitor : IJournalReplayVisitor
    {
        public long Seen { get; private set; }

        public List<byte[]> Accepted { get; } = [];

        public void OnRecord(JournalRecordType type, ReadOnlySpan<byte> body)
        {
            Seen++;
            bool ok = type switch
            {
                JournalRecordType.AddEntry => PackagedEntry.Validate(body) is null,
                JournalRecordType.MasterKey => JournalFormat.TryReadMasterKey(body, out long ledger, out var key) && ledger >= 0 && key.Length <= 255,
                JournalRecordType.Fence => JournalFormat.TryReadFence(body, out long fenced) && fenced >= 0,
                _ => false,
            };
            if (ok)
            {
                Accepted.Add(body.ToArray());
            }
        }
    }

    private sealed class ByteArrays : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrays Comparer = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }
}
