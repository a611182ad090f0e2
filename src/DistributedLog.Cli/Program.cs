using System.CommandLine;
using DistributedLog.Cli.Commands;

var root = new RootCommand("dlog — DistributedLog for .NET: a replicated log service.")
{
    BookieCommand.Create(),
    BenchCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
