using System.Diagnostics;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// A small tmpfs mounted on a directory (a bookie's journal), which can be filled with a ballast file and freed again:
/// the "disk that fills". Needs root; unmounted at the end.
/// </summary>
internal sealed class TmpfsDisk(string directory, int sizeMb) : IAsyncDisposable
{
    private bool _mounted;

    public string Directory { get; } = directory;

    private string Ballast => Path.Combine(Directory, "chaos-ballast");

    public async Task MountAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        await RunAsync("mount", "-t", "tmpfs", "-o", $"size={sizeMb}m", "tmpfs", Directory);
        _mounted = true;
    }

    /// <summary>Writes zeros until the file system is full; returns the bytes written.</summary>
    public async Task<long> FillAsync()
    {
        long written = 0;
        var chunk = new byte[1 << 20];
        try
        {
            await using var file = new FileStream(Ballast, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1 << 16);
            while (true)
            {
                await file.WriteAsync(chunk);
                await file.FlushAsync();
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            // Full (ENOSPC) — what we wanted; fill the last bytes too.
            try
            {
                await using var file = new FileStream(Ballast, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
                var small = new byte[4096];
                while (true)
                {
                    await file.WriteAsync(small);
                    await file.FlushAsync();
                    written += small.Length;
                }
            }
            catch (IOException)
            {
            }
        }

        return written;
    }

    public void Free()
    {
        try
        {
            File.Delete(Ballast);
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_mounted)
        {
            return;
        }

        Free();
        for (int attempt = 0; attempt < 20; attempt++)
        {
            if (await TryRunAsync("umount", Directory) == 0)
            {
                _mounted = false;
                return;
            }

            await Task.Delay(250);
        }

        await TryRunAsync("umount", "-l", Directory);
        _mounted = false;
    }

    private static async Task RunAsync(string file, params string[] arguments)
    {
        int code = await TryRunAsync(file, arguments);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed with exit code {code}.");
        }
    }

    private static async Task<int> TryRunAsync(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
