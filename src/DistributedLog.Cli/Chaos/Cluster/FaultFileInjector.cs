using DistributedLog.Bookie.IO;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// The storage-fault switch of a <c>dlog bookie</c> started with the hidden <c>--fault-file PATH</c> option (only
/// <c>dlog chaos</c> uses it): while the file <paramref name="faultFile"/> exists, every write and sync of the bookie's
/// journal and ledger files fails with an <see cref="IOException"/> carrying <c>EIO</c>, as a failing disk does. Deleting the
/// file stops the errors, but a bookie that saw an I/O error stays read-only until it is restarted (fail-stop).
/// </summary>
/// <param name="faultFile">The file whose existence switches the errors on.</param>
internal sealed class FaultFileInjector(string faultFile) : IFileFaultInjector
{
    /// <summary>errno EIO on Linux, which .NET puts in <see cref="Exception.HResult"/> of an I/O error.</summary>
    private const int Eio = 5;

    /// <inheritdoc />
    public void BeforeWrite(string path, long offset, int length) => ThrowIfOn(path);

    /// <inheritdoc />
    public void BeforeSync(string path) => ThrowIfOn(path);

    private void ThrowIfOn(string target)
    {
        if (File.Exists(faultFile))
        {
            throw new IOException($"Input/output error writing '{target}' (injected: fault file '{faultFile}' exists)", Eio);
        }
    }
}
