using System.CommandLine;
using DistributedLog.Cli.Commands;

var bench = BenchCommand.Create();
bench.Subcommands.Add(ProxyBenchCommand.Create());
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
};

return await root.Parse(args).InvokeAsync();
