using System.Text;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using DistributedLog.Testing;

namespace DistributedLog.Tests.Readers;

/// <summary>
/// One in-process cluster (3 bookies) shared by the reader tests of one metadata backend (the subclass picks it); each test
/// uses its own logs.
/// </summary>
public abstract class ReaderCluster : IAsyncLifetime
{
    private int _logs;

    public InProcessCluster Cluster { get; private set; } = null!;

    public NamespaceMetadata Namespace { get; private set; } = null!;

    public LogQueries Queries { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(3, metadataUri: await StartMetadataAsync());
        Namespace = new NamespaceMetadata(Cluster.Store, "readers");
        Queries = new LogQueries(Namespace, Cluster.Client);
    }

    public virtual async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }

    /// <summary>Starts what the metadata store needs and returns its URI (null: the embedded SQLite store).</summary>
    protected abstract Task<string?> StartMetadataAsync();

    public string NewLogName(string hint) => $"readers/{hint}-{Interlocked.Increment(ref _logs)}";

    public Task<SegmentBuilder> NewLogAsync(string hint) => SegmentBuilder.CreateAsync(Cluster, Namespace, NewLogName(hint));

    public Task<LogReader> OpenAsync(string log, ReadPosition start, LogReaderOptions? options = null) =>
        LogReader.OpenAsync(Namespace, Cluster.Client, Cluster.Store, log, start, options ?? Fast);

    /// <summary>Options for tests: short polls so that waits stay short.</summary>
    public static LogReaderOptions Fast { get; } = new() { LongPollTimeout = TimeSpan.FromMilliseconds(500), SegmentPollInterval = TimeSpan.FromSeconds(2) };

    /// <summary>Reads <paramref name="count"/> records, each within 10 s.</summary>
    public static async Task<List<LogRecordWithDlsn>> ReadAsync(LogReader reader, int count)
    {
        var records = new List<LogRecordWithDlsn>(count);
        for (int i = 0; i < count; i++)
        {
            records.Add(await reader.ReadNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        }

        return records;
    }

    /// <summary>Asserts that no record arrives within <paramref name="milliseconds"/> (the abandoned read loses nothing).</summary>
    public static async Task AssertNothingWithinAsync(LogReader reader, int milliseconds)
    {
        using var cts = new CancellationTokenSource(milliseconds);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.ReadNextAsync(cts.Token));
    }

    public static void AssertRecords(IEnumerable<ExpectedRecord> expected, IEnumerable<LogRecordWithDlsn> actual)
    {
        var e = expected.ToList();
        var a = actual.ToList();
        Assert.Equal(e.Select(x => x.Dlsn.ToString()), a.Select(x => x.Dlsn.ToString()));
        for (int i = 0; i < e.Count; i++)
        {
            Assert.Equal(e[i].TxId, a[i].TxId);
            Assert.Equal(e[i].SequenceId, a[i].SequenceId);
            Assert.Equal(e[i].Position, a[i].PositionWithinSegment);
            Assert.Equal(e[i].Payload, Encoding.UTF8.GetString(a[i].Payload.Span));
            Assert.False(a[i].IsControl);
        }
    }
}

/// <summary>The reader cluster on the embedded SQLite metadata store.</summary>
public sealed class SqliteReaderCluster : ReaderCluster
{
    protected override Task<string?> StartMetadataAsync() => Task.FromResult<string?>(null);
}

/// <summary>The reader cluster on a real etcd (its own server on loopback).</summary>
public sealed class EtcdReaderCluster : ReaderCluster
{
    private readonly EtcdServer _etcd = new();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _etcd.DisposeAsync();
    }

    protected override async Task<string?> StartMetadataAsync()
    {
        await _etcd.StartAsync();
        return _etcd.NewStoreUri();
    }
}

[CollectionDefinition(Name)]
public sealed class SqliteReaderCollection : ICollectionFixture<SqliteReaderCluster>
{
    public const string Name = "Readers (SQLite)";
}

[CollectionDefinition(Name)]
public sealed class EtcdReaderCollection : ICollectionFixture<EtcdReaderCluster>
{
    public const string Name = "Readers (etcd)";
}
