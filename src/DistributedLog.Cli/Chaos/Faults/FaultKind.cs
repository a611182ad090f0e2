namespace DistributedLog.Cli.Chaos.Faults;

/// <summary>The kinds of fault a chaos run injects.</summary>
internal enum FaultKind
{
    /// <summary>SIGKILL a bookie; restart it on the same data when the fault ends.</summary>
    KillBookie,

    /// <summary>SIGKILL a proxy; restart it when the fault ends.</summary>
    KillProxy,

    /// <summary>SIGKILL one etcd member; restart it on its data when the fault ends.</summary>
    KillEtcd,

    /// <summary>SIGKILL a fat-client writer process (<c>dlog append</c>); a new one takes over when the fault ends.</summary>
    KillWriter,

    /// <summary>Start a second fat-client writer on a log with <c>--takeover</c> while the first still writes: it fences the first.</summary>
    TakeoverWriter,

    /// <summary>SIGSTOP a bookie; SIGCONT when the fault ends (a frozen node: sockets open, nothing answers).</summary>
    PauseBookie,

    /// <summary>SIGSTOP a proxy; SIGCONT when the fault ends.</summary>
    PauseProxy,

    /// <summary>SIGSTOP an etcd member; SIGCONT when the fault ends.</summary>
    PauseEtcd,

    /// <summary>Drop (not refuse) every packet to and from a bookie's port on loopback with nft.</summary>
    PartitionBookie,

    /// <summary>Drop every packet to and from a proxy's port.</summary>
    PartitionProxy,

    /// <summary>Drop every packet to and from an etcd member's client and peer ports.</summary>
    PartitionEtcd,

    /// <summary>Fill the small tmpfs holding a bookie's journal with a ballast file; delete it when the fault ends (root only).</summary>
    DiskFull,

    /// <summary>
    /// Make a bookie's journal and ledger writes and syncs fail with EIO (its <c>--fault-file</c> created); when the fault
    /// ends the file is deleted and the bookie restarted (an I/O error keeps a bookie read-only until it restarts).
    /// </summary>
    DiskError,

    /// <summary>
    /// SIGKILL a bookie under load, then tear the tail of its newest journal file (garbage, or a record cut mid-way, after
    /// the last whole record) before restarting it: replay must cut the tail and keep every acknowledged entry.
    /// </summary>
    TornJournal,

    /// <summary>SIGSTOP more bookies than the ack quorum tolerates (writes must fail cleanly, nothing acknowledged lost).</summary>
    BookieMajorityPause,
}
