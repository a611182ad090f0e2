using System.Diagnostics;
using System.Globalization;

namespace DistributedLog.Testing;

/// <summary>Signals to processes the tests started (SIGSTOP/SIGCONT freezes, SIGTERM, SIGKILL), through <c>kill</c>.</summary>
public static class ProcessSignals
{
    /// <summary>Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c>, <c>TERM</c>, …) to <paramref name="pid"/>; throws when <c>kill</c> fails.</summary>
    public static void Send(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {pid} failed with exit code {kill.ExitCode}.");
        }
    }
}
