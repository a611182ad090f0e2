using DistributedLog.Bookie.IO;

namespace DistributedLog.Testing;

/// <summary>A fault injector tests switch on and off: writes fail like a full disk, syncs like a dying disk.</summary>
public sealed class SwitchableFaults : IFileFaultInjector
{
    public volatile bool FailSync;
    public volatile bool FailWrite;

    /// <summary>Only files whose path contains this are affected (null: all).</summary>
    public string? PathFilter { get; set; }

    public void BeforeWrite(string path, long offset, int length)
    {
        if (FailWrite && Matches(path))
        {
            throw new IOException("injected: No space left on device");
        }
    }

    public void BeforeSync(string path)
    {
        if (FailSync && Matches(path))
        {
            throw new IOException("injected: Input/output error");
        }
    }

    private bool Matches(string path) => PathFilter is null || path.Contains(PathFilter, StringComparison.Ordinal);
}
