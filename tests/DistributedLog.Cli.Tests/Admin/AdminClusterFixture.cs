using System.Text.Json;
using DistributedLog.Namespaces;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests.Admin;

/// <summary>
/// One real cluster (etcd and three <c>dlog bookie</c> processes) shared by the <c>dlog admin</c> test classes, which run
/// one after the other and use distinct log names. Logs are written with <c>dlog append</c> (the core library, no proxy).
/// </summary>
public sealed class AdminClusterFixture : IAsyncLifetime
{
    public ProcessCluster Cluster { get; private set; } = null!;

    /// <summary>A namespace over the cluster's store and ledger client, for setting up and damaging metadata on purpose.</summary>
    public DistributedLogNamespace Namespace { get; private set; } = null!;

    public string MetadataUri => Cluster.MetadataUri;

    public async Task InitializeAsync()
    {
        Cluster = await ProcessCluster.StartAsync(3);
        Namespace = DistributedLogNamespace.Create(Cluster.Store, Cluster.Client);
    }

    public async Task DisposeAsync()
    {
        await Namespace.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Runs <c>dlog admin ARGS --metadata URI</c>.</summary>
    public Task<DlogResult> AdminAsync(params string[] args) => Dlog.RunAsync(["admin", .. args, "--metadata", MetadataUri]);

    /// <summary>Runs <c>dlog admin ARGS --metadata URI --json</c>, expects success, and parses its one line of JSON.</summary>
    public async Task<JsonElement> AdminJsonAsync(params string[] args)
    {
        var result = CliAssert.Succeeded(await Dlog.RunAsync(["admin", .. args, "--metadata", MetadataUri, "--json"]));
        Assert.True(result.Lines.Count == 1, $"expected one line of JSON, got {result}");
        using var json = CliAssert.Parse(result.Lines[0]);
        return json.RootElement.Clone();
    }

    /// <summary>Appends one record per line to <paramref name="log"/> (created if needed) in one writer session: one completed segment.</summary>
    public async Task<IReadOnlyList<WriteAck>> AppendAsync(string log, params string[] lines)
    {
        var result = await Dlog.RunAsync(["append", log, "--metadata", MetadataUri, "--create", "--json"],
            new DlogRunOptions { Stdin = string.Join('\n', lines) + "\n" });
        return CliAssert.Acks(CliAssert.Succeeded(result));
    }
}

[CollectionDefinition(Name)]
public sealed class AdminClusterCollection : ICollectionFixture<AdminClusterFixture>
{
    public const string Name = "admin cluster";
}
