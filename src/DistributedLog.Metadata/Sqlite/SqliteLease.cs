namespace DistributedLog.Metadata.Sqlite;

/// <summary>A lease of the SQLite store: renewed in memory by a timer every third of its TTL.</summary>
internal sealed class SqliteLease : ILease
{
    private readonly SqliteMetadataStore _store;
    private readonly CancellationTokenSource _lost = new();
    private readonly ITimer _timer;
    private int _stopped;

    public SqliteLease(SqliteMetadataStore store, long id, TimeSpan ttl, TimeProvider time)
    {
        _store = store;
        Id = id;
        Ttl = ttl;
        TimeSpan period = ttl / 3;
        _timer = time.CreateTimer(static state => ((SqliteLease)state!).Renew(), this, period, period);
    }

    public long Id { get; }

    public TimeSpan Ttl { get; }

    public CancellationToken Lost => _lost.Token;

    private void Renew()
    {
        if (Volatile.Read(ref _stopped) != 0)
            return;
        if (!_store.TryRenew(Id))
        {
            Stop();
            MarkLost();
        }
    }

    public async ValueTask RevokeAsync(CancellationToken cancellationToken = default)
    {
        Stop();
        try
        {
            await _store.RevokeLeaseAsync(Id, cancellationToken);
        }
        finally
        {
            MarkLost();
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        _store.Detach(Id, this);
        MarkLost();
        return ValueTask.CompletedTask;
    }

    internal void MarkLost()
    {
        Stop();
        if (!_lost.IsCancellationRequested)
            _ = _lost.CancelAsync();
    }

    private void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
            _timer.Dispose();
    }

    public override string ToString() => $"SQLite lease {Id} (TTL {Ttl})";
}
