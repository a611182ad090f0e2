namespace DistributedLog.Bookie.Server;

/// <summary>
/// Limits a <see cref="BookieServer"/> puts on its clients, so that slow, stuck or hostile connections cannot hold
/// unbounded memory: how long a connection may take to handshake and to finish a frame it started, how many
/// connections may be open, and how many bytes of unfinished frames all connections together may buffer.
/// </summary>
public sealed class BookieServerOptions
{
    /// <summary>How long a new connection may take to complete the handshake before it is closed. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a frame may stay unfinished (its first bytes received, not the rest) before the connection is closed.
    /// A maximum-size frame needs well under a second on any working link. Default 30 s.
    /// </summary>
    public TimeSpan FrameReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most connections open at once; more are closed as soon as they are accepted. Default 2048.</summary>
    public int MaxConnections { get; init; } = 2048;

    /// <summary>
    /// Most bytes of unfinished frames buffered by all connections together. Over it, the connections holding the oldest
    /// large unfinished frames (at least <see cref="LargePendingFrameBytes"/>) are closed until the rest fits: a healthy
    /// client finishes a frame within milliseconds, a stuck or hostile one does not. Default 64 MiB.
    /// </summary>
    public long MaxPendingFrameBytes { get; init; } = 64L << 20;

    /// <summary>Unfinished frames from this size on count as large for <see cref="MaxPendingFrameBytes"/>. Default 64 KiB.</summary>
    public int LargePendingFrameBytes { get; init; } = 64 << 10;

    /// <summary>
    /// Once connections that closed with unfinished frames have dropped this many bytes, the heap is compacted (at most
    /// every 30 s) so the memory goes back to the system. 0 turns this off. Default 32 MiB.
    /// </summary>
    public long CompactAfterDroppedBytes { get; init; } = 32L << 20;

    /// <summary>The clock for the timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HandshakeTimeout, TimeSpan.Zero, nameof(HandshakeTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FrameReadTimeout, TimeSpan.Zero, nameof(FrameReadTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingFrameBytes, 0, nameof(MaxPendingFrameBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(LargePendingFrameBytes, 0, nameof(LargePendingFrameBytes));
    }
}
