using DistributedLog.Ledgers.Placement;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers;

/// <summary>Settings of a <see cref="LedgerClient"/>. Defaults are DistributedLog's (E=3, Qw=3, Qa=2).</summary>
public sealed class LedgerClientOptions
{
    /// <summary>Ensemble size E of new ledgers. Default 3.</summary>
    public int EnsembleSize { get; init; } = 3;

    /// <summary>Write quorum Qw of new ledgers. Default 3.</summary>
    public int WriteQuorumSize { get; init; } = 3;

    /// <summary>Ack quorum Qa of new ledgers. Default 2.</summary>
    public int AckQuorumSize { get; init; } = 2;

    /// <summary>How long a bookie may take to answer a request before it counts as failed (adds then change the ensemble). Default 5 s.</summary>
    public TimeSpan BookieTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a bookie that failed a write of this client (error or <see cref="BookieTimeout"/>) is quarantined:
    /// new ensembles and ensemble changes avoid it while other writable bookies are available, and use it again
    /// afterwards (as BookKeeper's <c>bookieQuarantineTimeSeconds</c>). When only quarantined bookies are left they
    /// are used anyway — except one that failed for the same writer since its last acknowledged entry. Default
    /// 5 minutes; zero disables the quarantine.
    /// </summary>
    public TimeSpan BookieQuarantineTime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The clock (quarantine expiry). Default the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>After this long without an answer, a read is also sent to the next replica (speculative read). Default 50 ms.</summary>
    public TimeSpan SpeculativeReadTimeout { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How bookies are chosen for ensembles and replacements. Default (null): a <see cref="RackAwarePlacementPolicy"/>
    /// with <see cref="MinRacksPerWriteSet"/> and <see cref="MinRegionsPerWriteSet"/>.
    /// </summary>
    public IEnsemblePlacementPolicy? PlacementPolicy { get; init; }

    /// <summary>
    /// Racks every write set of a new ensemble or replacement must span (capped at Qw) with the default policy; an
    /// ensemble that cannot is refused with <c>NotEnoughBookies</c>. Default 1: spread as far as the racks allow, never refuse.
    /// </summary>
    public int MinRacksPerWriteSet { get; init; } = 1;

    /// <summary>
    /// Regions (the first level of a rack path) every write set must span (capped at Qw) with the default policy; an
    /// ensemble that cannot is refused with <c>NotEnoughBookies</c>. Default 1: split across regions when there are
    /// several, never refuse.
    /// </summary>
    public int MinRegionsPerWriteSet { get; init; } = 1;

    /// <summary>
    /// This client's own network location, <c>/REGION/RACK</c>: reads try replicas in this rack first, then in this
    /// region, then the others. Default null: the write set's order.
    /// </summary>
    public string? Rack { get; init; }

    /// <summary>Logging.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
