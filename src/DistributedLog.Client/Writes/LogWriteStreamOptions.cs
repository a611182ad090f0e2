namespace DistributedLog.Client.Writes;

/// <summary>Settings of a <see cref="LogWriteStream"/>.</summary>
public sealed class LogWriteStreamOptions
{
    /// <summary>Most records sent but not yet acknowledged; beyond it records wait in the stream's queue. Default 16 384.</summary>
    public int MaxInFlight { get; init; } = 16 * 1024;

    /// <summary>Most records packed into one message to the proxy. Default 1 024.</summary>
    public int MaxRecordsPerMessage { get; init; } = 1024;

    /// <summary>Most payload bytes packed into one message to the proxy (a single larger record is sent alone). Default 1 MiB.</summary>
    public int MaxBytesPerMessage { get; init; } = 1 << 20;
}
