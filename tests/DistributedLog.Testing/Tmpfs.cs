using System.ComponentModel;
using System.Diagnostics;

namespace DistributedLog.Testing;

/// <summary>A small tmpfs mounted on a test directory: a real disk that fills up (needs root; see <see cref="RootFactAttribute"/>).</summary>
public static class Tmpfs
{
    /// <summary>Mounts a tmpfs of <paramref name="size"/> (e.g. <c>40m</c>) on <paramref name="path"/>; false when mount fails.</summary>
    public static async Task<bool> MountAsync(string path, string size) =>
        await RunAsync("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", path) == 0;

    /// <summary>Unmounts it (lazily, so a process still holding files does not block the test's clean-up).</summary>
    public static Task UnmountAsync(string path) => RunAsync("umount", "-l", path);

    private static async Task<int> RunAsync(string program, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            await process.WaitForExitAsync();
            return process.ExitCode;
        }
        catch (Win32Exception)
        {
            return -1;
        }
    }
}
