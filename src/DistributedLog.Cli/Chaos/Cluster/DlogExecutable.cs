using System.Diagnostics;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// How to start the <c>dlog</c> being run: its own executable (the apphost), or — when it runs as <c>dotnet dlog.dll</c>
/// — the same host with the same dll.
/// </summary>
internal static class DlogExecutable
{
    /// <summary>A start description of <c>dlog ARGS</c>.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        string path = Environment.ProcessPath ?? throw new InvalidOperationException("The path of the running dlog executable is unknown.");
        var info = new ProcessStartInfo(path) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.Ordinal))
        {
            info.ArgumentList.Add(typeof(DlogExecutable).Assembly.Location);
        }

        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }
}
