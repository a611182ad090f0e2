using System.CommandLine;
using DistributedLog.Cli.Commands;

var root = new RootCommand("dlog — DistributedLog for .NET: a replicated log service.")
{
    BookieCommand.Create(),
    BenchCommand.Create(),
    AppendCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
