using System.Text.Json;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Segments;
using DistributedLog.Testing;

namespace DistributedLog.Tests.Namespaces;

/// <summary>Namespace operations, the same on both metadata backends.</summary>
public abstract class NamespaceMetadataTests : IAsyncLifetime
{
    private IMetadataStore _store = null!;

    protected NamespaceMetadata Namespace { get; private set; } = null!;

    protected abstract Task<IMetadataStore> OpenStoreAsync();

    public async Task InitializeAsync()
    {
        _store = await OpenStoreAsync();
        Namespace = new NamespaceMetadata(_store, "test");
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private async Task AddSegmentAsync(string log, long lssn, long ledgerId)
    {
        var segment = new LogSegmentMetadata { Lssn = lssn, LedgerId = ledgerId, FirstTxId = lssn * 100, CreatedAt = DateTimeOffset.UtcNow };
        await _store.PutAsync(Namespace.Layout.Segment(log, lssn), JsonSerializer.SerializeToUtf8Bytes(segment, LogMetadataJson.Default.LogSegmentMetadata));
    }

    [Fact]
    public async Task Create_exists_and_list_with_prefixes()
    {
        await Namespace.CreateLogAsync("orders/eu");
        await Namespace.CreateLogAsync("/orders/us");
        await Namespace.CreateLogAsync("ordersx");
        await Namespace.CreateLogAsync("payments");
        Assert.True(await Namespace.LogExistsAsync("orders/eu"));
        Assert.False(await Namespace.LogExistsAsync("orders"));
        Assert.Equal(["orders/eu", "orders/us", "ordersx", "payments"], await Namespace.ListLogsAsync());
        Assert.Equal(["orders/eu", "orders/us"], await Namespace.ListLogsAsync("orders/"));
        Assert.Equal(["orders/eu", "orders/us", "ordersx"], await Namespace.ListLogsAsync("orders"));
        await Assert.ThrowsAsync<LogExistsException>(() => Namespace.CreateLogAsync("orders/eu"));
        await Assert.ThrowsAsync<InvalidStreamNameException>(() => Namespace.CreateLogAsync("orders//eu"));
    }

    [Fact]
    public async Task A_log_named_like_another_logs_subtree_does_not_collide()
    {
        await Namespace.CreateLogAsync("a");
        await AddSegmentAsync("a", 1, 10);
        await Namespace.CreateLogAsync("a/segments/000000000000000001");
        Assert.Single(await Namespace.GetSegmentsAsync("a"));
        Assert.Empty(await Namespace.GetSegmentsAsync("a/segments/000000000000000001"));
        Assert.Equal(["a", "a/segments/000000000000000001"], await Namespace.ListLogsAsync());
    }

    [Fact]
    public async Task Delete_removes_everything_and_returns_the_ledgers()
    {
        await Namespace.CreateLogAsync("doomed");
        await AddSegmentAsync("doomed", 1, 11);
        await AddSegmentAsync("doomed", 2, 12);
        Assert.Equal([11L, 12L], await Namespace.DeleteLogAsync("doomed"));
        Assert.False(await Namespace.LogExistsAsync("doomed"));
        Assert.Empty(await Namespace.GetSegmentsAsync("doomed"));
        await Assert.ThrowsAsync<LogNotFoundException>(() => Namespace.DeleteLogAsync("doomed"));
    }

    [Fact]
    public async Task Delete_and_rename_are_refused_while_a_writer_holds_the_log()
    {
        await Namespace.CreateLogAsync("busy");
        await using var lease = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(10));
        await _store.PutAsync(Namespace.Layout.Lock("busy"), "writer-1"u8.ToArray(), lease.Id);
        await Assert.ThrowsAsync<LockingException>(() => Namespace.DeleteLogAsync("busy"));
        await Assert.ThrowsAsync<LockingException>(() => Namespace.RenameLogAsync("busy", "other"));
        await lease.RevokeAsync();
        await Namespace.RenameLogAsync("busy", "other");
        Assert.Equal(["other"], await Namespace.ListLogsAsync());
    }

    [Fact]
    public async Task Rename_moves_segments_and_refuses_an_existing_target()
    {
        await Namespace.CreateLogAsync("old/name");
        await AddSegmentAsync("old/name", 1, 21);
        await AddSegmentAsync("old/name", 2, 22);
        await Namespace.CreateLogAsync("taken");
        await Assert.ThrowsAsync<LogExistsException>(() => Namespace.RenameLogAsync("old/name", "taken"));
        await Namespace.RenameLogAsync("old/name", "new/name");
        Assert.False(await Namespace.LogExistsAsync("old/name"));
        Assert.Equal([21L, 22L], (await Namespace.GetSegmentsAsync("new/name")).Select(s => s.Segment.LedgerId));
        Assert.Empty(await Namespace.GetSegmentsAsync("old/name"));
        await Assert.ThrowsAsync<LogNotFoundException>(() => Namespace.RenameLogAsync("old/name", "x"));
    }

    [Fact]
    public async Task Watch_reports_existing_logs_then_creations_and_deletions_only()
    {
        await Namespace.CreateLogAsync("w/first");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var changes = Namespace.WatchLogsAsync("w/", cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(new LogChange("w/first", true), changes.Current);

        await Namespace.CreateLogAsync("w/second");
        var (log, version) = await Namespace.GetLogAsync("w/second");
        // An update of an existing log (e.g. its max txid) is not reported.
        await _store.CommitAsync(new MetadataTransaction().IfVersion(Namespace.Layout.Log("w/second"), version)
            .Put(Namespace.Layout.Log("w/second"), JsonSerializer.SerializeToUtf8Bytes(log with { MaxTxId = 5 }, LogMetadataJson.Default.LogMetadata)));
        await Namespace.CreateLogAsync("elsewhere");
        await Namespace.DeleteLogAsync("w/first");

        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(new LogChange("w/second", true), changes.Current);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(new LogChange("w/first", false), changes.Current);
    }
}

public sealed class SqliteNamespaceMetadataTests : NamespaceMetadataTests, IDisposable
{
    private readonly string _dir = TestEntries.TempDirectory("ns-sqlite");

    protected override async Task<IMetadataStore> OpenStoreAsync() =>
        await MetadataStores.OpenAsync(new Uri(Path.Combine(_dir, "meta.db")).AbsoluteUri);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}

public sealed class EtcdNamespaceMetadataTests(EtcdServer etcd) : NamespaceMetadataTests, IClassFixture<EtcdServer>
{
    protected override async Task<IMetadataStore> OpenStoreAsync() => await MetadataStores.OpenAsync(etcd.NewStoreUri());
}
