using System.Diagnostics.Metrics;

namespace DistributedLog.Proxy;

/// <summary>The proxy's instruments on the <c>DistributedLog.Proxy</c> meter (exported at <c>/metrics</c> in Prometheus format).</summary>
internal sealed class ProxyMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DistributedLog.Proxy";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _records;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _redirects;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _softExceeded;
    private readonly Counter<long> _released;
    private readonly Histogram<double> _writeLatency;
    private readonly Counter<long> _retentionPurged;
    private readonly Counter<long> _retentionErrors;
    private readonly Counter<long> _readEntries;
    private readonly Counter<long> _readRecords;
    private readonly Counter<long> _readAlone;
    private readonly Counter<long> _readRejoined;

    public ProxyMetrics(IMeterFactory? meterFactory, Func<int> ownedLogs)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("dl.proxy.requests", description: "Requests by operation and outcome (DistributedLog status code).");
        _records = _meter.CreateCounter<long>("dl.proxy.records.written", description: "Records acknowledged to clients.");
        _bytes = _meter.CreateCounter<long>("dl.proxy.bytes.written", unit: "By", description: "Payload bytes acknowledged to clients.");
        _redirects = _meter.CreateCounter<long>("dl.proxy.redirects", description: "Requests answered with FOUND (the log is owned by another proxy).");
        _rejections = _meter.CreateCounter<long>("dl.proxy.limit.rejected", description: "Requests rejected by a hard limit.");
        _softExceeded = _meter.CreateCounter<long>("dl.proxy.limit.soft_exceeded", description: "Requests above a soft limit (accepted).");
        _released = _meter.CreateCounter<long>("dl.proxy.logs.released", description: "Logs released (closed, failed, idle or drained).");
        _writeLatency = _meter.CreateHistogram<double>("dl.proxy.write.latency", unit: "ms", description: "Time from receiving a unary write to its acknowledgement.");
        _retentionPurged = _meter.CreateCounter<long>("dl.proxy.retention.segments_purged", description: "Completed segments truncated (ledgers deleted) by the retention policy.");
        _retentionErrors = _meter.CreateCounter<long>("dl.proxy.retention.errors", description: "Logs whose retention round failed (tried again next round).");
        _readEntries = _meter.CreateCounter<long>("dl.proxy.read.entries",
            description: "Entries read from bookies by the proxy's log readers, by reader (shared: a log's one reader feeding its cache; alone: a read call outside the cache).");
        _readRecords = _meter.CreateCounter<long>("dl.proxy.read.records",
            description: "Records sent to read calls, by source (cache: a log's shared read cache; alone: the call's own reader).");
        _readAlone = _meter.CreateCounter<long>("dl.proxy.read.alone",
            description: "Read calls that started reading alone, by reason (start: position outside the cache; behind: fell out of it; shared_failed).");
        _readRejoined = _meter.CreateCounter<long>("dl.proxy.read.rejoined", description: "Read calls that caught up and went back to the shared cache.");
        _meter.CreateObservableGauge("dl.proxy.logs.owned", ownedLogs, description: "Logs whose writer this proxy holds.");
    }

    public void Request(string operation, int code) =>
        _requests.Add(1, new KeyValuePair<string, object?>("op", operation), new KeyValuePair<string, object?>("code", code));

    public void Written(long records, long bytes)
    {
        _records.Add(records);
        _bytes.Add(bytes);
    }

    public void Redirected() => _redirects.Add(1);

    public void Rejected(string scope) => _rejections.Add(1, new KeyValuePair<string, object?>("scope", scope));

    public void SoftLimitExceeded(string scope) => _softExceeded.Add(1, new KeyValuePair<string, object?>("scope", scope));

    public void Released(string reason) => _released.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void WriteLatency(double milliseconds) => _writeLatency.Record(milliseconds);

    public void RetentionPurged(int segments) => _retentionPurged.Add(segments);

    public void RetentionFailed() => _retentionErrors.Add(1);

    public void ReadEntries(string reader, long entries) => _readEntries.Add(entries, new KeyValuePair<string, object?>("reader", reader));

    public void ReadRecords(string source, long records) => _readRecords.Add(records, new KeyValuePair<string, object?>("source", source));

    public void ReadAlone(string reason) => _readAlone.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ReadRejoined() => _readRejoined.Add(1);

    public void Dispose() => _meter.Dispose();
}
