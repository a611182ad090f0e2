using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata.Tests;

/// <summary>Choosing a backend from a URI, and clear errors for bad or unreachable stores.</summary>
public sealed class MetadataStoresTests
{
    [Theory]
    [InlineData("etcd://admin:hunter2@127.0.0.1:2379/dlog", "etcd://admin:***@127.0.0.1:2379/dlog")]
    [InlineData("etcd://admin:p@ss@h1:1,h2:2/x", "etcd://admin:***@h1:1,h2:2/x")]
    [InlineData("etcd://127.0.0.1:2379/dlog", "etcd://127.0.0.1:2379/dlog")]
    [InlineData("etcd://user@host:1/r", "etcd://user@host:1/r")]
    [InlineData("file:///var/lib/dlog/meta.db", "file:///var/lib/dlog/meta.db")]
    [InlineData("not a uri", "not a uri")]
    public void Redact_hides_only_the_password(string uri, string expected) => Assert.Equal(expected, MetadataStores.Redact(uri));

    [Fact]
    public async Task Credentials_in_an_etcd_uri_are_refused_without_being_echoed()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await MetadataStores.OpenAsync("etcd://admin:hunter2@127.0.0.1:1/dlog"));
        Assert.Contains("not supported yet", error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }

    [Theory]
    [InlineData("http://127.0.0.1:2379/dl")]
    [InlineData("zk://127.0.0.1:2181/dl")]
    [InlineData("meta.db")]
    [InlineData("/var/lib/dl/meta.db")]
    [InlineData("")]
    public async Task Unsupported_uris_are_refused_naming_the_uri_and_the_supported_forms(string uri)
    {
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(async () => await MetadataStores.OpenAsync(uri));
        Assert.Contains($"'{uri}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("file:///", error.Message, StringComparison.Ordinal);
        Assert.Contains("etcd://", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file://somehost/var/meta.db", "names host")]
    [InlineData("file:///var/lib/dl/", "directory")]
    [InlineData("etcd://", "no etcd endpoint")]
    [InlineData("etcd:///dl", "no etcd endpoint")]
    [InlineData("etcd://host:99999/dl", "invalid port")]
    [InlineData("etcd://a:1,,b:2/dl", "empty endpoint")]
    [InlineData("etcd://host:2379/dl?x=1", "no query")]
    public async Task Malformed_uris_are_refused_with_the_reason(string uri, string reason)
    {
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(async () => await MetadataStores.OpenAsync(uri));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Etcd_uris_name_endpoints_and_a_root()
    {
        (IReadOnlyList<string> endpoints, string root) = MetadataStores.ParseEtcdUri("etcd://10.0.0.1:2379,10.0.0.2:2380,node3/dl/prod/");
        Assert.Equal(["10.0.0.1:2379", "10.0.0.2:2380", "node3:2379"], endpoints);
        Assert.Equal("dl/prod", root);

        (endpoints, root) = MetadataStores.ParseEtcdUri("etcd://[::1]:2379");
        Assert.Equal(["[::1]:2379"], endpoints);
        Assert.Equal("", root);
    }

    [Fact]
    public void File_uris_name_a_local_path()
    {
        Assert.Equal("/var/lib/dl/meta.db", MetadataStores.ParseFileUri("file:///var/lib/dl/meta.db"));
        Assert.Equal("/var/lib/dl/meta.db", MetadataStores.ParseFileUri("file://localhost/var/lib/dl/meta.db"));
    }

    [Fact]
    public async Task An_unreachable_etcd_fails_fast_with_a_retryable_error_naming_the_endpoint()
    {
        int port = UnusedPort();
        var clock = Stopwatch.StartNew();
        MetadataStoreUnavailableException error = await Assert.ThrowsAsync<MetadataStoreUnavailableException>(async () =>
            await MetadataStores.OpenAsync($"etcd://127.0.0.1:{port}/dl", new MetadataStoreOptions { OperationTimeout = TimeSpan.FromSeconds(2) }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal(StatusCode.MetadataStoreError, error.Code);
        Assert.True(error.IsRetryable);
        Assert.False(error.OutcomeUnknown);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("unavailable", error.Message, StringComparison.Ordinal);
    }

    private static int UnusedPort() => DistributedLog.Bookie.Server.FreePorts.Pick();
}
