namespace DistributedLog.Bookie.IO;

/// <summary>
/// The seam where tests inject storage faults (disk full, I/O errors) into the bookie's files without mocking
/// whole components. Every write and sync of a <see cref="DurableFile"/> passes through it; throwing an
/// <see cref="IOException"/> makes that operation fail exactly as the operating system would.
/// </summary>
public interface IFileFaultInjector
{
    /// <summary>Called before <paramref name="length"/> bytes are written at <paramref name="offset"/> of <paramref name="path"/>.</summary>
    void BeforeWrite(string path, long offset, int length);

    /// <summary>Called before <paramref name="path"/> is synced to disk.</summary>
    void BeforeSync(string path);
}

/// <summary>The production injector: injects nothing.</summary>
public sealed class NoFaults : IFileFaultInjector
{
    /// <summary>The shared instance.</summary>
    public static readonly NoFaults Instance = new();

    /// <inheritdoc />
    public void BeforeWrite(string path, long offset, int length) { }

    /// <inheritdoc />
    public void BeforeSync(string path) { }
}
