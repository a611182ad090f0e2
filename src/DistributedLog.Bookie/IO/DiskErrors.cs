namespace DistributedLog.Bookie.IO;

/// <summary>Classifies storage errors: running out of space is recoverable once space returns; other I/O errors are not.</summary>
public static class DiskErrors
{
    private const int Enospc = 28;
    private const int Edquot = 122;
    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>
    /// Whether <paramref name="error"/> (or an exception inside it) says the disk or a quota is full (<c>ENOSPC</c>,
    /// <c>EDQUOT</c>, or a failed preallocation): nothing was damaged, the write was refused.
    /// </summary>
    public static bool IsOutOfSpace(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is IOException io && (io.HResult is Enospc or Edquot or WindowsDiskFull or WindowsHandleDiskFull
                || io.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
                || io.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase)
                || io.Message.Contains("disk was full", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }
}
