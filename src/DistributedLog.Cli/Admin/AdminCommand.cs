using System.CommandLine;
using System.Text.Json;
using DistributedLog.Cli.Commands;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;

namespace DistributedLog.Cli.Admin;

/// <summary>
/// <c>dlog admin</c>: operating a cluster by talking to its metadata store and bookies directly (no proxy), as
/// BookKeeper's shell and DistributedLog's <c>dlog tool</c> do. Every subcommand takes <c>--metadata URI</c> (default
/// <c>$DLOG_METADATA</c>) and <c>--json</c>.
/// </summary>
internal static class AdminCommand
{
    /// <summary>The environment variable <c>--metadata</c> defaults to.</summary>
    public const string MetadataVariable = "DLOG_METADATA";

    public static Command Create() => new("admin", "Inspect and repair a cluster through its metadata store and bookies (no proxy needed).")
    {
        AdminBookieCommands.Bookies(),
        AdminLedgerCommands.Create(),
        AdminLogCommands.Create(),
        AdminRecoveryCommands.Audit(),
        AdminRecoveryCommands.Recover(),
        AdminRecoveryCommands.Decommission(),
    };
}

/// <summary>The options every <c>dlog admin</c> command shares: <c>--metadata</c>, <c>--namespace</c>, <c>--json</c>.</summary>
internal sealed class AdminOptions
{
    public Option<string?> Metadata { get; } = new("--metadata")
    {
        Description = $"Metadata store of the cluster (etcd://host:port/root or file:///path/meta.db; default: ${AdminCommand.MetadataVariable}).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AdminCommand.MetadataVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null,
    };

    public Option<string> Namespace { get; } = new("--namespace") { Description = "Namespace of the logs.", DefaultValueFactory = _ => "default" };

    public Option<bool> Json { get; } = ClientOptions.Json();

    /// <summary>A command with the shared options added (after its own arguments and options).</summary>
    public Command Command(string name, string description, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
            }
        }

        command.Options.Add(Metadata);
        command.Options.Add(Json);
        return command;
    }

    /// <summary>Adds <c>--namespace</c> (for the commands about logs).</summary>
    public Command WithNamespace(Command command)
    {
        command.Options.Add(Namespace);
        return command;
    }

    /// <summary>The metadata URI given or from the environment.</summary>
    /// <exception cref="ArgumentException">Neither.</exception>
    public string MetadataUri(ParseResult result) =>
        result.GetValue(Metadata) is { Length: > 0 } uri
            ? uri
            : throw new ArgumentException($"No metadata store: pass --metadata URI or set {AdminCommand.MetadataVariable} ({MetadataStores.SupportedForms}).");

    /// <summary>Opens the metadata store alone.</summary>
    public async Task<IMetadataStore> OpenStoreAsync(ParseResult result, CancellationToken cancellationToken) =>
        await MetadataStores.OpenAsync(MetadataUri(result), cancellationToken: cancellationToken);

    /// <summary>Opens the namespace (metadata store, bookie registry and ledger client).</summary>
    public Task<DistributedLogNamespace> OpenNamespaceAsync(ParseResult result, CancellationToken cancellationToken) =>
        DistributedLogNamespace.OpenAsync(MetadataUri(result), result.GetValue(Namespace) ?? "default", cancellationToken: cancellationToken);

    /// <summary>Prints <paramref name="text"/>, or with <c>--json</c> one JSON object (built by <paramref name="write"/>) on one line.</summary>
    public void Report(ParseResult result, string text, Action<Utf8JsonWriter> write)
    {
        if (result.GetValue(Json))
        {
            using var stdout = Console.OpenStandardOutput();
            ClientOptions.WriteJsonLine(stdout, write);
        }
        else
        {
            Console.WriteLine(text);
        }
    }

    /// <summary>Writes one JSON value (an array, say) built by <paramref name="write"/> as a line to stdout.</summary>
    public static void WriteJsonValue(Action<Utf8JsonWriter> write)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            write(writer);
        }

        stdout.WriteByte((byte)'\n');
        stdout.Flush();
    }
}
