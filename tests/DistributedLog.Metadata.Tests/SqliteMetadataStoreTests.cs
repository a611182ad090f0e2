using DistributedLog.Metadata.Sqlite;

namespace DistributedLog.Metadata.Tests;

/// <summary>The conformance suite on the embedded SQLite store, each test on its own temporary file.</summary>
public sealed class SqliteMetadataStoreTests : MetadataStoreConformanceTests
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "dl-meta-" + Guid.NewGuid().ToString("N"));

    private string DatabasePath => Path.Combine(_directory, "nested", "meta.db");

    protected override async Task<IMetadataStore> OpenAsync() =>
        await MetadataStores.OpenAsync(new Uri(DatabasePath), new MetadataStoreOptions { LeaseSweepInterval = TimeSpan.FromMilliseconds(100) });

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void The_store_is_a_sqlite_store_at_the_uri_path()
    {
        var store = Assert.IsType<SqliteMetadataStore>(Store);
        Assert.Equal(new Uri(DatabasePath).AbsoluteUri, store.Location);
        Assert.True(File.Exists(DatabasePath));
    }
}
