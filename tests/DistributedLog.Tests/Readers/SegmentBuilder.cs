using System.Text;
using System.Text.Json;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Records;
using DistributedLog.Segments;
using DistributedLog.Testing;

namespace DistributedLog.Tests.Readers;

/// <summary>A user record as the builder wrote it: what a reader must return.</summary>
public sealed record ExpectedRecord(Dlsn Dlsn, long TxId, long SequenceId, int Position, string Payload);

/// <summary>
/// Lays down a log exactly per the segment contract (docs/architecture.md, "Logs on segments"), without the log writer:
/// one ledger per segment, entries built with <see cref="EntryWriter"/> (positions 1, 2, … per segment, record sets one
/// position and slot per inner record, control records alone in their entry carrying the last user position and txid),
/// segment records written InProgress then Completed, the log record's max LSSN and max txid kept up to date.
/// The payload of each user record is <c>"rec-&lt;sequence id&gt;"</c>.
/// </summary>
public sealed class SegmentBuilder(InProcessCluster cluster, NamespaceMetadata ns, string log)
{
    private readonly List<ExpectedRecord> _records = [];
    private LedgerHandle? _ledger;
    private LogSegmentMetadata? _segment;
    private long _segmentVersion;
    private int _position;
    private long _lastTxId = -1;
    private long _lastEntryId = -1;
    private long _lastSlotId = -1;
    private long _nextSequenceId;
    private long _lssn;

    /// <summary>The log's name.</summary>
    public string Log => log;

    /// <summary>Every user record written so far, in log order.</summary>
    public IReadOnlyList<ExpectedRecord> Records => _records;

    /// <summary>The in-progress segment's LSSN (0: none).</summary>
    public long CurrentLssn => _segment is null ? 0 : _lssn;

    /// <summary>Compression of the entries written from now on.</summary>
    public CompressionCodec Codec { get; set; } = CompressionCodec.None;

    /// <summary>Creates the log and returns its builder.</summary>
    public static async Task<SegmentBuilder> CreateAsync(InProcessCluster cluster, NamespaceMetadata ns, string log)
    {
        await ns.CreateLogAsync(log);
        return new SegmentBuilder(cluster, ns, log);
    }

    /// <summary>Starts segment LSSN + 1 on a new ledger (InProgress record).</summary>
    public async Task StartSegmentAsync(long firstTxId)
    {
        if (_segment is not null)
        {
            throw new InvalidOperationException("Complete the in-progress segment first.");
        }

        _ledger = await cluster.Client.CreateLedgerAsync();
        _lssn++;
        _position = 0;
        _lastEntryId = -1;
        _lastSlotId = -1;
        _segment = new LogSegmentMetadata
        {
            Lssn = _lssn,
            LedgerId = _ledger.LedgerId,
            FirstTxId = firstTxId,
            StartSequenceId = _nextSequenceId,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        _segmentVersion = await PutSegmentAsync(_segment, version: null);
        await UpdateLogAsync(l => l with { MaxLssn = _lssn });
    }

    /// <summary>Writes one entry with one user record per txid.</summary>
    public Task<IReadOnlyList<ExpectedRecord>> WriteAsync(params long[] txIds) => WriteEntryAsync(txIds, recordSetSize: 0);

    /// <summary>Writes one entry: <paramref name="before"/> plain records, then a record set of <paramref name="setSize"/> records with txid <paramref name="setTxId"/>.</summary>
    public Task<IReadOnlyList<ExpectedRecord>> WriteWithRecordSetAsync(long[] before, long setTxId, int setSize) =>
        WriteEntryAsync([.. before, setTxId], setSize);

    /// <summary>Writes a control record alone in its entry: it makes the earlier entries visible to readers (LAC).</summary>
    public async Task WriteControlAsync()
    {
        using var entry = new EntryWriter();
        Assert.True(entry.TryAdd(LogRecord.CreateControl(Math.Max(0, _lastTxId)), _position));
        await AddAsync(entry);
        _lastSlotId = 0;
    }

    /// <summary>
    /// Completes the in-progress segment: optionally writes the end-of-stream record alone in a last entry, closes the
    /// ledger and writes the Completed record (last entry, slot, txid, record count); raises the log's max txid.
    /// </summary>
    public async Task CompleteSegmentAsync(bool endOfStream = false)
    {
        var segment = _segment ?? throw new InvalidOperationException("No segment in progress.");
        if (endOfStream)
        {
            using var entry = new EntryWriter();
            Assert.True(entry.TryAdd(LogRecord.CreateEndOfStream(), _position));
            await AddAsync(entry);
            _lastSlotId = 0;
        }

        await _ledger!.CloseAsync();
        await _ledger.DisposeAsync();
        var completed = segment with
        {
            State = LogSegmentState.Completed,
            LastEntryId = _lastEntryId,
            LastSlotId = _lastSlotId,
            LastTxId = _lastTxId,
            RecordCount = _position,
            CompletionTime = DateTimeOffset.UtcNow,
        };
        await PutSegmentAsync(completed, _segmentVersion);
        _nextSequenceId += _position;
        long maxTxId = endOfStream ? LogRecord.EndOfStreamTxId : _lastTxId;
        await UpdateLogAsync(l => l with { MaxTxId = Math.Max(l.MaxTxId, maxTxId) });
        _segment = null;
        _ledger = null;
    }

    /// <summary>Marks a completed segment truncated (or partially, from <paramref name="minActive"/>).</summary>
    public async Task MarkTruncatedAsync(long lssn, TruncationStatus status, Dlsn? minActive = null)
    {
        string key = ns.Layout.Segment(log, lssn);
        var current = await cluster.Store.GetAsync(key) ?? throw new InvalidOperationException($"No segment {lssn}.");
        var segment = JsonSerializer.Deserialize(current.Value.Span, LogMetadataJson.Default.LogSegmentMetadata)!;
        await PutSegmentAsync(segment with { Truncation = status, MinActiveDlsn = minActive?.ToString() }, current.Version);
    }

    /// <summary>The ledger of segment <paramref name="lssn"/>.</summary>
    public async Task<long> LedgerOfAsync(long lssn)
    {
        var value = await cluster.Store.GetAsync(ns.Layout.Segment(log, lssn)) ?? throw new InvalidOperationException($"No segment {lssn}.");
        return JsonSerializer.Deserialize(value.Value.Span, LogMetadataJson.Default.LogSegmentMetadata)!.LedgerId;
    }

    /// <summary>The payload the builder gives the record with sequence id <paramref name="sequenceId"/>.</summary>
    public static string PayloadOf(long sequenceId) => $"rec-{sequenceId}";

    private async Task<IReadOnlyList<ExpectedRecord>> WriteEntryAsync(long[] txIds, int recordSetSize)
    {
        if (_segment is null)
        {
            throw new InvalidOperationException("Start a segment first.");
        }

        using var entry = new EntryWriter();
        using var set = new RecordSetWriter();
        var pending = new List<(long TxId, int Position, string Payload)>();
        int position = _position;
        for (int i = 0; i < txIds.Length; i++)
        {
            bool isSet = recordSetSize > 0 && i == txIds.Length - 1;
            if (!isSet)
            {
                string payload = PayloadOf(_nextSequenceId + position);
                position++;
                Assert.True(entry.TryAdd(txIds[i], LogRecordFlags.None, Encoding.UTF8.GetBytes(payload), position));
                pending.Add((txIds[i], position, payload));
                continue;
            }

            int first = position + 1;
            for (int k = 0; k < recordSetSize; k++)
            {
                string payload = PayloadOf(_nextSequenceId + position);
                position++;
                Assert.True(set.TryAdd(Encoding.UTF8.GetBytes(payload)));
                pending.Add((txIds[i], position, payload));
            }

            Assert.True(entry.TryAddRecordSet(set, txIds[i], first, Codec));
        }

        long entryId = await AddAsync(entry);
        var written = new List<ExpectedRecord>(pending.Count);
        for (int slot = 0; slot < pending.Count; slot++)
        {
            var (txId, pos, payload) = pending[slot];
            written.Add(new ExpectedRecord(new Dlsn(_lssn, entryId, slot), txId, _nextSequenceId + pos - 1, pos, payload));
            _lastTxId = txId;
        }

        _position = position;
        _lastSlotId = pending.Count - 1;
        _records.AddRange(written);
        return written;
    }

    private async Task<long> AddAsync(EntryWriter entry)
    {
        byte[] sealedEntry = new byte[entry.EstimatedSize];
        int length = entry.Seal(Codec, sealedEntry);
        long entryId = await _ledger!.AddEntryAsync(sealedEntry.AsMemory(0, length));
        _lastEntryId = entryId;
        return entryId;
    }

    private async Task<long> PutSegmentAsync(LogSegmentMetadata segment, long? version)
    {
        string key = ns.Layout.Segment(log, segment.Lssn);
        var transaction = new MetadataTransaction();
        transaction = version is { } v ? transaction.IfVersion(key, v) : transaction.IfAbsent(key);
        var result = await cluster.Store.CommitAsync(transaction.Put(key, JsonSerializer.SerializeToUtf8Bytes(segment, LogMetadataJson.Default.LogSegmentMetadata)));
        Assert.True(result.Succeeded, $"segment {segment.Lssn} record changed concurrently");
        return result.Revision;
    }

    private async Task UpdateLogAsync(Func<LogMetadata, LogMetadata> change)
    {
        var (current, version) = await ns.GetLogAsync(log);
        string key = ns.Layout.Log(log);
        var result = await cluster.Store.CommitAsync(new MetadataTransaction().IfVersion(key, version)
            .Put(key, JsonSerializer.SerializeToUtf8Bytes(change(current), LogMetadataJson.Default.LogMetadata)));
        Assert.True(result.Succeeded, "log record changed concurrently");
    }
}
