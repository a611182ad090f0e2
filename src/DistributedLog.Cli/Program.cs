using System.CommandLine;
using DistributedLog.Cli.Admin;
using DistributedLog.Cli.Bench;
using DistributedLog.Cli.Commands;

var bench = BenchCommand.Create();
bench.Subcommands.Add(ProxyBenchCommand.Create());
bench.Subcommands.Add(UserBenchCommands.Write());
bench.Subcommands.Add(UserBenchCommands.Tail());
bench.Subcommands.Add(UserBenchCommands.Catchup());
bench.Subcommands.Add(OmbCommand.Create());
var root = new RootCommand("dlog — DistributedLog for .NET: a replicated log service.")
{
    SandboxCommand.Create(),
    BookieCommand.Create(),
    ProxyCommand.Create(),
    LogCommands.Create(),
    LogCommands.Delete(),
    LogCommands.List(),
    LogCommands.Show(),
    WriteCommand.Create(),
    ReadCommand.Create(),
    LogCommands.Truncate(),
    bench,
    AppendCommand.Create(),
    ChaosCommand.Create(),
    AdminCommand.Create(),
};

foreach (var server in root.Subcommands.Where(c => ServerRun.IsServerCommand(c.Name)))
{
    server.Options.Add(ServerConfiguration.ConfigOption());
}

// Server settings may also come from DLOG_<COMMAND>_<FLAG> variables and a --config file (flags win, then the
// environment, then the file); they become flags here so they are validated like flags.
string[] expanded;
IReadOnlyList<ServerConfiguration.Setting> added;
try
{
    (expanded, added) = ServerConfiguration.Expand(root, args, Environment.GetEnvironmentVariables());
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"dlog: {e.Message}");
    return 1;
}

var parsed = root.Parse(expanded);
if (ServerRun.IsServerCommand(parsed.CommandResult.Command.Name) && parsed.Errors.Count == 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
{
    ServerConfiguration.Remember(parsed, added);
}

// The server commands (bookie, proxy, sandbox) handle SIGINT and SIGTERM themselves (ServerRun.StopSignal) and shut down
// cleanly however long that takes; System.CommandLine's own handler would end them with 143 after 2 s mid-shutdown and
// throws from the signal handler on a second signal. Client commands keep its Ctrl+C cancellation.
var invocation = ServerRun.IsServerCommand(parsed.CommandResult.Command.Name)
    ? new InvocationConfiguration { ProcessTerminationTimeout = null }
    : new InvocationConfiguration();
return await parsed.InvokeAsync(invocation);
