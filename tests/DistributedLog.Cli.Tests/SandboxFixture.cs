using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>
/// One <c>dlog sandbox</c> process shared by every class of the "sandbox" collection (they run one after the other and
/// use distinct log names), so the suite starts a sandbox once rather than per class.
/// </summary>
public sealed class SandboxFixture : IAsyncLifetime
{
    public SandboxProcess Sandbox { get; } = new();

    public Task InitializeAsync() => Sandbox.StartAsync();

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SandboxCollection : ICollectionFixture<SandboxFixture>
{
    public const string Name = "sandbox";
}
