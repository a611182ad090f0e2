namespace DistributedLog.Ledgers.Replication;

/// <summary>Settings of auto-recovery (the auditor and the replication worker a bookie runs by default).</summary>
public sealed class AutoRecoveryOptions
{
    /// <summary>
    /// How long a bookie must be gone (unregistered) before its ledgers are marked under-replicated
    /// (<c>dlog bookie --lost-bookie-delay-seconds</c>). Default 30 s; zero marks them at once.
    /// </summary>
    public TimeSpan LostBookieDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the auditor runs the full check (every closed ledger's fragments read). Default daily; zero turns it off.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Whether the periodic check reads every entry of each share (else the first and last of each). Default off, as BookKeeper.</summary>
    public bool VerifyEntries { get; init; }

    /// <summary>How long a writer may keep a lost bookie in its open ledger's current ensemble before a worker fences the ledger. Default 30 s (BookKeeper's <c>openLedgerRereplicationGracePeriod</c>).</summary>
    public TimeSpan OpenLedgerGracePeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the auditor looks at the registrations. Default 1 s.</summary>
    public TimeSpan AuditorTick { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often an idle worker looks for marks. Default 2 s.</summary>
    public TimeSpan WorkerPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>TTL of the auditor's and worker's leases (their election key and locks vanish this long after they die). Default 10 s.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Who runs it (the bookie id), written into the election key and locks.</summary>
    public string Identity { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Whether this process takes part in the auditor election. Default true.</summary>
    public bool RunAuditor { get; init; } = true;

    /// <summary>Whether this process runs a replication worker. Default true.</summary>
    public bool RunWorker { get; init; } = true;

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
