using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata;

/// <summary>Settings of a metadata store; each says which backend uses it.</summary>
public sealed class MetadataStoreOptions
{
    /// <summary>The clock for lease expiry, renewal and retry back-off. Default <see cref="TimeProvider.System"/>.
    /// gRPC deadlines of the etcd backend always use the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logging.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>etcd: how long one request may take before it fails with <see cref="MetadataStoreUnavailableException"/>.
    /// Default 5 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>etcd: how long connecting to an endpoint may take. Default 3 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>etcd: how often an idempotent request (reads, lease grant and revoke, watch creation) is retried after
    /// the store was unavailable, before the error is reported. Writes are never retried. Default 3.</summary>
    public int ReadRetries { get; init; } = 3;

    /// <summary>etcd: the first retry back-off; it doubles with each retry. Default 100 ms.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>etcd: the longest wait between attempts to reconnect to an endpoint, a watch or a lease keep-alive.
    /// Default 2 s.</summary>
    public TimeSpan MaxReconnectBackoff { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>etcd: most keys fetched per request while listing (listings are paged at one pinned revision, so they
    /// stay one consistent snapshot). Default 1000.</summary>
    public int ListPageSize { get; init; } = 1000;

    /// <summary>Both: how many events a watch buffers for a slow consumer. etcd: when full, the watch stops reading
    /// (back-pressure to etcd). SQLite: when full, the watch is lost (<see cref="MetadataWatchLostException"/>).
    /// Default 65 536.</summary>
    public int WatchBufferCapacity { get; init; } = 65_536;

    /// <summary>SQLite: how often expired leases are looked for (and their keys deleted). Default 250 ms.</summary>
    public TimeSpan LeaseSweepInterval { get; init; } = TimeSpan.FromMilliseconds(250);
}
