using System.Diagnostics.Metrics;

namespace DistributedLog.Ledgers.Replication;

/// <summary>
/// Auto-recovery metrics (meter <c>DistributedLog.Ledgers</c>): under-replicated ledgers as last counted by the auditor,
/// fragments, entries and bytes copied, and the time from a ledger's mark to its full replication.
/// </summary>
public sealed class ReplicationMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DistributedLog.Ledgers";

    private readonly Meter _meter;
    private readonly Counter<long> _fragments;
    private readonly Counter<long> _entries;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _ledgers;
    private readonly Histogram<double> _timeToReplicate;
    private long _underReplicated;
    private long _lostBookies;

    /// <summary>Creates the instruments (from <paramref name="meterFactory"/> when given).</summary>
    public ReplicationMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _fragments = _meter.CreateCounter<long>("dlog.autorecovery.fragments_copied", description: "Ledger fragments copied to a replacement bookie.");
        _entries = _meter.CreateCounter<long>("dlog.autorecovery.entries_copied", description: "Entries copied by re-replication.");
        _bytes = _meter.CreateCounter<long>("dlog.autorecovery.bytes_copied", unit: "By", description: "Bytes copied by re-replication.");
        _ledgers = _meter.CreateCounter<long>("dlog.autorecovery.ledgers_replicated", description: "Under-replicated ledgers brought back to full replication.");
        _timeToReplicate = _meter.CreateHistogram<double>("dlog.autorecovery.time_to_replicate", unit: "s",
            description: "Time from a ledger being marked under-replicated to its full replication.");
        _meter.CreateObservableGauge("dlog.autorecovery.under_replicated_ledgers", () => Volatile.Read(ref _underReplicated),
            description: "Ledgers marked under-replicated at the auditor's last look.");
        _meter.CreateObservableGauge("dlog.autorecovery.lost_bookies", () => Volatile.Read(ref _lostBookies),
            description: "Bookies the auditor counts as lost.");
    }

    internal void FragmentCopied(long entries, long bytes)
    {
        _fragments.Add(1);
        _entries.Add(entries);
        _bytes.Add(bytes);
    }

    internal void LedgerReplicated(TimeSpan sinceMarked)
    {
        _ledgers.Add(1);
        _timeToReplicate.Record(Math.Max(0, sinceMarked.TotalSeconds));
    }

    internal void Observed(long underReplicated, long lostBookies)
    {
        Volatile.Write(ref _underReplicated, underReplicated);
        Volatile.Write(ref _lostBookies, lostBookies);
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
