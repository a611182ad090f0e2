using System.Text;
using DistributedLog.Metadata.Internal;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata.Sqlite;

public sealed partial class SqliteMetadataStore
{
    // Lease expiry times live in memory (renewal costs no I/O); the leases table holds the id and TTL, so that after a
    // restart every lease of the previous process gets one full TTL and then expires. Entries are added and removed
    // under the write gate (together with the rows), and read or renewed under _leaseLock.
    private readonly Dictionary<long, LeaseEntry> _leases = [];
    private readonly Lock _leaseLock = new();

    private sealed class LeaseEntry(long id, long ttlMilliseconds, long ttlTicks, long expiresAt)
    {
        public long Id { get; } = id;
        public long TtlMilliseconds { get; } = ttlMilliseconds;
        public long TtlTicks { get; } = ttlTicks;
        public long ExpiresAt { get; set; } = expiresAt;
        public bool Expiring { get; set; }
        public SqliteLease? Owner { get; set; }
    }

    /// <inheritdoc />
    public async ValueTask<ILease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        long ttlMilliseconds = MetadataKeys.TtlSeconds(ttl) * 1000;
        await EnterWriteAsync(cancellationToken);
        try
        {
            using SqliteTransaction sqlite = _writer.BeginTransaction();
            long id = (long)WriterStatements.Bind(_sql.InsertLease, sqlite, ttlMilliseconds).ExecuteScalar()!;
            sqlite.Commit();
            LeaseEntry entry = AddLease(id, ttlMilliseconds);
            var lease = new SqliteLease(this, id, TimeSpan.FromMilliseconds(ttlMilliseconds), _time);
            lock (_leaseLock)
                entry.Owner = lease;
            return lease;
        }
        catch (SqliteException e)
        {
            throw Translate(e, "grant a lease", null);
        }
        finally
        {
            _gate.Release();
        }
    }

    private LeaseEntry AddLease(long id, long ttlMilliseconds)
    {
        long ttlTicks = ttlMilliseconds * _time.TimestampFrequency / 1000;
        var entry = new LeaseEntry(id, ttlMilliseconds, ttlTicks, _time.GetTimestamp() + ttlTicks);
        lock (_leaseLock)
            _leases[id] = entry;
        return entry;
    }

    private void LoadLeases()
    {
        using SqliteCommand command = _writer.CreateCommand();
        command.CommandText = "SELECT id, ttl_ms FROM leases";
        using SqliteDataReader reader = command.ExecuteReader();
        while (reader.Read())
            AddLease(reader.GetInt64(0), reader.GetInt64(1));
    }

    private bool LeaseExists(long id)
    {
        lock (_leaseLock)
            return _leases.TryGetValue(id, out LeaseEntry? entry) && !entry.Expiring;
    }

    private LeaseNotFoundException LeaseNotFound(long leaseId, string key) => new(leaseId,
        $"Cannot put '{key}' in the SQLite metadata store '{_path}': lease {leaseId} does not exist (it expired or was revoked).");

    /// <summary>Renews a lease in memory; false when it no longer exists or already expired.</summary>
    internal bool TryRenew(long id)
    {
        lock (_leaseLock)
        {
            if (!_leases.TryGetValue(id, out LeaseEntry? entry) || entry.Expiring)
                return false;
            long now = _time.GetTimestamp();
            if (entry.ExpiresAt <= now)
                return false;
            entry.ExpiresAt = now + entry.TtlTicks;
            return true;
        }
    }

    /// <summary>Forgets the owner of a lease that was disposed: nobody renews it any more, so it expires.</summary>
    internal void Detach(long id, SqliteLease owner)
    {
        lock (_leaseLock)
        {
            if (_leases.TryGetValue(id, out LeaseEntry? entry) && entry.Owner == owner)
                entry.Owner = null;
        }
    }

    /// <inheritdoc />
    public async ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        long id = leaseId;
        SqliteLease? owner = null;
        await EnterWriteAsync(cancellationToken);
        try
        {
            lock (_leaseLock)
            {
                if (!_leases.TryGetValue(id, out LeaseEntry? entry))
                    return;
                entry.Expiring = true;
            }
            owner = RemoveLease(id);
        }
        catch (SqliteException e)
        {
            lock (_leaseLock)
            {
                if (_leases.TryGetValue(id, out LeaseEntry? entry))
                    entry.Expiring = false;
            }
            throw Translate(e, $"revoke lease {id}", null);
        }
        finally
        {
            _gate.Release();
        }
        owner?.MarkLost();
    }

    /// <summary>Deletes a lease and its keys under one new revision; called under the write gate.</summary>
    private SqliteLease? RemoveLease(long id)
    {
        List<WatchEvent>? events = null;
        using (SqliteTransaction sqlite = _writer.BeginTransaction())
        {
            long revision = _revision + 1;
            using (SqliteDataReader reader = WriterStatements.Bind(_sql.SelectLeaseKeys, sqlite, id).ExecuteReader())
            {
                while (reader.Read())
                    (events ??= []).Add(new WatchEvent(WatchEventType.Delete, Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)), default, revision));
            }
            if (events is not null)
            {
                WriterStatements.Bind(_sql.DeleteLeaseKeys, sqlite, id).ExecuteNonQuery();
                WriterStatements.Bind(_sql.SetRevision, sqlite, revision).ExecuteNonQuery();
            }
            WriterStatements.Bind(_sql.DeleteLease, sqlite, id).ExecuteNonQuery();
            sqlite.Commit();
            if (events is not null)
                Volatile.Write(ref _revision, revision);
        }
        SqliteLease? owner;
        lock (_leaseLock)
        {
            _leases.Remove(id, out LeaseEntry? entry);
            owner = entry?.Owner;
        }
        if (events is not null)
            Publish(events);
        return owner;
    }

    private async Task SweepLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.LeaseSweepInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                try
                {
                    await SweepExpiredLeasesAsync(_stopping.Token);
                }
                catch (Exception e) when (e is SqliteException or MetadataStoreException)
                {
                    _logger.LogWarning(e, "Expiring leases in the SQLite metadata store {Path} failed; retrying at the next sweep.", _path);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException) when (Volatile.Read(ref _disposed) != 0)
        {
        }
    }

    /// <summary>Deletes every lease whose TTL passed without renewal, with its keys, and marks its owner lost.</summary>
    internal async ValueTask SweepExpiredLeasesAsync(CancellationToken cancellationToken)
    {
        List<long>? expired = null;
        long now = _time.GetTimestamp();
        lock (_leaseLock)
        {
            foreach (LeaseEntry entry in _leases.Values)
            {
                if (entry.ExpiresAt <= now && !entry.Expiring)
                    (expired ??= []).Add(entry.Id);
            }
        }
        if (expired is null)
            return;

        List<SqliteLease>? lost = null;
        await EnterWriteAsync(cancellationToken);
        try
        {
            foreach (long id in expired)
            {
                lock (_leaseLock)
                {
                    // Renewed in the meantime, or revoked: leave it.
                    if (!_leases.TryGetValue(id, out LeaseEntry? entry) || entry.Expiring || entry.ExpiresAt > _time.GetTimestamp())
                        continue;
                    entry.Expiring = true;
                }
                try
                {
                    SqliteLease? owner = RemoveLease(id);
                    _logger.LogDebug("Lease {LeaseId} of the SQLite metadata store {Path} expired; its keys were deleted.", id, _path);
                    if (owner is not null)
                        (lost ??= []).Add(owner);
                }
                catch (SqliteException)
                {
                    lock (_leaseLock)
                    {
                        if (_leases.TryGetValue(id, out LeaseEntry? entry))
                            entry.Expiring = false;
                    }
                    throw;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
        if (lost is not null)
        {
            foreach (SqliteLease owner in lost)
                owner.MarkLost();
        }
    }

    /// <summary>On dispose: the owners of this instance's leases can no longer renew them.</summary>
    private void AbandonLeases()
    {
        List<SqliteLease> owners = [];
        lock (_leaseLock)
        {
            foreach (LeaseEntry entry in _leases.Values)
            {
                if (entry.Owner is not null)
                    owners.Add(entry.Owner);
            }
            _leases.Clear();
        }
        foreach (SqliteLease owner in owners)
            owner.MarkLost();
    }
}
