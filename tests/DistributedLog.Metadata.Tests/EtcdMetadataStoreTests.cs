using DistributedLog.Testing;
using DistributedLog.Metadata.Etcd;

namespace DistributedLog.Metadata.Tests;

/// <summary>The conformance suite on a real etcd (one server for the class, a fresh root per test).</summary>
public sealed class EtcdMetadataStoreTests : MetadataStoreConformanceTests, IClassFixture<EtcdServer>
{
    private readonly EtcdServer _etcd;
    private readonly string _uri;

    public EtcdMetadataStoreTests(EtcdServer etcd)
    {
        _etcd = etcd;
        _uri = etcd.NewStoreUri();
    }

    // A small page size makes the listing tests cross page boundaries.
    protected override async Task<IMetadataStore> OpenAsync() =>
        await MetadataStores.OpenAsync(_uri, new MetadataStoreOptions { ListPageSize = 7 });

    [Fact]
    public async Task Keys_live_under_the_root_prefix_in_etcd()
    {
        var store = Assert.IsType<EtcdMetadataStore>(Store);
        string root = _uri[(_uri.LastIndexOf('/') + 1)..];
        Assert.Equal($"/{root}/", store.RootPrefix);
        await Store.PutAsync("ledgers/1", B("x"));

        // Another store on the parent root sees the key under the prefix; the store itself never leaves its root.
        await using IMetadataStore parent = await MetadataStores.OpenAsync($"etcd://{_etcd.Endpoint}/");
        Assert.NotNull(await parent.GetAsync($"{root}/ledgers/1"));
        await parent.PutAsync($"{root}x/outside", B("y"));
        Assert.Equal(["ledgers/1"], (await Store.ListAsync("")).Select(v => v.Key));
        Assert.Equal(1, await Store.DeletePrefixAsync(""));
        Assert.NotNull(await parent.GetAsync($"{root}x/outside"));
        await parent.DeleteAsync($"{root}x/outside");
    }
}
