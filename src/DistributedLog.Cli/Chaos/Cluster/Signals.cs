using System.Runtime.InteropServices;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>POSIX signals to a process by id (SIGSTOP / SIGCONT pause and resume it: the "slow node").</summary>
internal static partial class Signals
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    /// <summary>Sends <paramref name="signal"/>; false when the process is gone.</summary>
    public static bool Send(int pid, int signal) => Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
