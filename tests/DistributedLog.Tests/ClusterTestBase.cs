using DistributedLog.Namespaces;
using DistributedLog.Testing;

namespace DistributedLog.Tests;

/// <summary>
/// Tests that run against in-process bookies (real TCP, files, fsync) and one namespace, on a metadata backend the
/// subclass picks: <see cref="MetadataUri"/> null for the embedded SQLite store, an etcd URI for a real etcd.
/// </summary>
public abstract class ClusterTestBase(string namespaceName) : IAsyncLifetime
{
    protected InProcessCluster Cluster { get; private set; } = null!;

    protected DistributedLogNamespace Namespace { get; private set; } = null!;

    protected abstract string? MetadataUri { get; }

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(3, metadataUri: MetadataUri);
        Namespace = DistributedLogNamespace.Create(Cluster.Store, Cluster.Client, namespaceName);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    protected async Task<LogManager> NewLogAsync(string name)
    {
        await Namespace.CreateLogAsync(name);
        return Namespace.OpenLog(name);
    }
}
