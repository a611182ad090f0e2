using System.Diagnostics.Metrics;

namespace DistributedLog.Bookie;

/// <summary>
/// The bookie's instruments on the <c>DistributedLog.Bookie</c> meter (export them with OpenTelemetry or
/// <c>dotnet-counters</c>). Every instrument carries the bookie's id as the <c>bookie</c> tag.
/// </summary>
public sealed class BookieMetrics : IDisposable
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "DistributedLog.Bookie";

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _tag;
    private readonly Counter<long> _adds;
    private readonly Counter<long> _addBytes;
    private readonly Counter<long> _addErrors;
    private readonly Histogram<double> _addLatency;
    private readonly Counter<long> _reads;
    private readonly Counter<long> _readBytes;
    private readonly Histogram<double> _fsyncLatency;
    private readonly Histogram<double> _batchLatency;
    private readonly Histogram<long> _batchRecords;
    private readonly Counter<long> _journalBytes;
    private readonly Counter<long> _gcScans;
    private readonly Counter<long> _gcScansSkipped;
    private readonly Counter<long> _gcOrphansDeleted;

    /// <summary>Creates the instruments for bookie <paramref name="bookieId"/>.</summary>
    public BookieMetrics(string bookieId, IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _tag = new KeyValuePair<string, object?>("bookie", bookieId);
        _adds = _meter.CreateCounter<long>("bookie.adds", "{entry}", "Entries added (acknowledged durable).");
        _addBytes = _meter.CreateCounter<long>("bookie.add.bytes", "By", "Bytes of entries added.");
        _addErrors = _meter.CreateCounter<long>("bookie.add.errors", "{entry}", "Adds refused or failed.");
        _addLatency = _meter.CreateHistogram<double>("bookie.add.duration", "ms", "Time from receiving an add to acknowledging it durable.");
        _reads = _meter.CreateCounter<long>("bookie.reads", "{entry}", "Entries read.");
        _readBytes = _meter.CreateCounter<long>("bookie.read.bytes", "By", "Bytes of entries read.");
        _fsyncLatency = _meter.CreateHistogram<double>("bookie.journal.fsync.duration", "ms", "Duration of each journal fdatasync.");
        _batchLatency = _meter.CreateHistogram<double>("bookie.journal.batch.duration", "ms", "Duration of writing and syncing one group-commit batch.");
        _batchRecords = _meter.CreateHistogram<long>("bookie.journal.batch.records", "{record}", "Records per group-commit batch.");
        _journalBytes = _meter.CreateCounter<long>("bookie.journal.bytes", "By", "Bytes written to the journal.");
        _gcScans = _meter.CreateCounter<long>("bookie.gc.scans", "{scan}", "Scan-and-compare rounds that compared local ledgers with the metadata store.");
        _gcScansSkipped = _meter.CreateCounter<long>("bookie.gc.scans.skipped", "{scan}", "Scan-and-compare rounds skipped because the metadata store did not answer.");
        _gcOrphansDeleted = _meter.CreateCounter<long>("bookie.gc.orphans.deleted", "{ledger}", "Local ledgers deleted because their metadata was gone (missed deletes).");
    }

    /// <summary>Records one acknowledged add.</summary>
    public void RecordAdd(TimeSpan latency)
    {
        _adds.Add(1, _tag);
        _addLatency.Record(latency.TotalMilliseconds, _tag);
    }

    /// <summary>Records the bytes of an add accepted into the journal.</summary>
    public void RecordAddBytes(int bytes) => _addBytes.Add(bytes, _tag);

    /// <summary>Records one refused or failed add.</summary>
    public void RecordAddError() => _addErrors.Add(1, _tag);

    /// <summary>Records one read.</summary>
    public void RecordRead(int bytes)
    {
        _reads.Add(1, _tag);
        _readBytes.Add(bytes, _tag);
    }

    /// <summary>Records one journal group-commit batch.</summary>
    public void RecordJournalBatch(int records, int bytes, TimeSpan fsync, TimeSpan total)
    {
        _batchRecords.Record(records, _tag);
        _journalBytes.Add(bytes, _tag);
        _fsyncLatency.Record(fsync.TotalMilliseconds, _tag);
        _batchLatency.Record(total.TotalMilliseconds, _tag);
    }

    /// <summary>Records one scan-and-compare round: completed, or skipped because the metadata store failed.</summary>
    public void RecordGcScan(bool completed) => (completed ? _gcScans : _gcScansSkipped).Add(1, _tag);

    /// <summary>Records one orphan ledger deleted by the scan-and-compare collector.</summary>
    public void RecordOrphanDeleted() => _gcOrphansDeleted.Add(1, _tag);

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
