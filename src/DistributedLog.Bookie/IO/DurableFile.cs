using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace DistributedLog.Bookie.IO;

/// <summary>
/// A file written with positional writes and made durable with <c>fdatasync</c>: the one place where the bookie's
/// journal and entry logs touch the disk. Thread-safe for positional reads; writes are the caller's to order.
/// </summary>
public sealed partial class DurableFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly IFileFaultInjector _faults;

    private DurableFile(string path, SafeFileHandle handle, IFileFaultInjector faults)
    {
        Path = path;
        _handle = handle;
        _faults = faults;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The file's current length in bytes.</summary>
    public long Length => RandomAccess.GetLength(_handle);

    /// <summary>Creates a new file (failing if it exists) and, when asked, preallocates it.</summary>
    /// <param name="path">Where to create it.</param>
    /// <param name="preallocateBytes">Bytes to reserve (0 for none). Reserved space is filled with zeros when <paramref name="zeroFill"/>
    /// is set, so later writes inside it change neither the size nor the extent map and <c>fdatasync</c> flushes data only.</param>
    /// <param name="zeroFill">Write zeros instead of only reserving (slower to create, faster to sync).</param>
    /// <param name="faults">The fault-injection seam.</param>
    public static DurableFile Create(string path, long preallocateBytes, bool zeroFill, IFileFaultInjector? faults = null)
    {
        faults ??= NoFaults.Instance;
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete,
            FileOptions.None, zeroFill ? 0 : preallocateBytes);
        var file = new DurableFile(path, handle, faults);
        try
        {
            if (zeroFill && preallocateBytes > 0)
            {
                file.WriteZeros(0, preallocateBytes);
                file.Sync();
            }

            SyncDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        return file;
    }

    /// <summary>Opens an existing file for reading and writing.</summary>
    public static DurableFile OpenExisting(string path, IFileFaultInjector? faults = null, bool writable = true)
    {
        var handle = File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read,
            FileShare.ReadWrite | FileShare.Delete);
        return new DurableFile(path, handle, faults ?? NoFaults.Instance);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> (not yet durable: call <see cref="Sync"/>).</summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        _faults.BeforeWrite(Path, offset, data.Length);
        RandomAccess.Write(_handle, data, offset);
    }

    /// <summary>Writes several buffers at <paramref name="offset"/> with one system call where possible.</summary>
    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        int total = 0;
        for (int i = 0; i < buffers.Count; i++)
        {
            total += buffers[i].Length;
        }

        _faults.BeforeWrite(Path, offset, total);
        RandomAccess.Write(_handle, buffers, offset);
    }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; returns how many were read.</summary>
    public int Read(long offset, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <summary>Makes every completed write durable (<c>fdatasync</c>: data and the metadata needed to read it back).</summary>
    public void Sync()
    {
        _faults.BeforeSync(Path);
        if (OperatingSystem.IsLinux())
        {
            if (FDataSync(_handle) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fdatasync failed on '{Path}' (errno {errno}).", errno);
            }
        }
        else
        {
            RandomAccess.FlushToDisk(_handle);
        }
    }

    /// <summary>
    /// Starts writing back the given range to disk without waiting (Linux <c>sync_file_range</c> with
    /// <c>SYNC_FILE_RANGE_WRITE</c>): large sequential writers call it as they go so that the final <see cref="Sync"/> is
    /// short and does not stall other files' syncs behind a burst of dirty pages. Not a durability guarantee.
    /// </summary>
    public void StartWriteback(long offset, long length)
    {
        if (OperatingSystem.IsLinux() && length > 0)
        {
            _ = SyncFileRange(_handle, offset, length, 2 /* SYNC_FILE_RANGE_WRITE */);
        }
    }

    /// <summary>Sets the file's length (truncating or extending with zeros).</summary>
    public void SetLength(long length) => RandomAccess.SetLength(_handle, length);

    /// <summary>Writes <paramref name="count"/> zero bytes starting at <paramref name="offset"/>.</summary>
    public void WriteZeros(long offset, long count)
    {
        byte[] zeros = new byte[(int)Math.Min(count, 1 << 20)];
        while (count > 0)
        {
            int n = (int)Math.Min(count, zeros.Length);
            Write(offset, zeros.AsSpan(0, n));
            offset += n;
            count -= n;
        }
    }

    /// <summary>Makes a directory's entries (created, renamed or deleted files) durable.</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            return;
        }

        try
        {
            _ = FSync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
