using Microsoft.Data.Sqlite;

namespace DistributedLog.Metadata.Sqlite;

/// <summary>The writer connection's statements, prepared once and reused (only used under the store's write gate).</summary>
internal sealed class WriterStatements : IDisposable
{
    public WriterStatements(SqliteConnection connection)
    {
        SelectModRevision = Create(connection, "SELECT mod_rev FROM kv WHERE key = $key", ("$key", SqliteType.Blob));
        Upsert = Create(connection, """
            INSERT INTO kv(key, value, mod_rev, create_rev, lease) VALUES ($key, $value, $rev, $rev, $lease)
            ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, lease = excluded.lease
            """, ("$key", SqliteType.Blob), ("$value", SqliteType.Blob), ("$rev", SqliteType.Integer), ("$lease", SqliteType.Integer));
        DeleteKey = Create(connection, "DELETE FROM kv WHERE key = $key", ("$key", SqliteType.Blob));
        SelectRangeKeys = Create(connection, "SELECT key FROM kv WHERE key >= $from AND key < $to ORDER BY key",
            ("$from", SqliteType.Blob), ("$to", SqliteType.Blob));
        DeleteRange = Create(connection, "DELETE FROM kv WHERE key >= $from AND key < $to",
            ("$from", SqliteType.Blob), ("$to", SqliteType.Blob));
        SelectFromKeys = Create(connection, "SELECT key FROM kv WHERE key >= $from ORDER BY key", ("$from", SqliteType.Blob));
        DeleteFrom = Create(connection, "DELETE FROM kv WHERE key >= $from", ("$from", SqliteType.Blob));
        SetRevision = Create(connection, "UPDATE meta SET value = $rev WHERE name = 'revision'", ("$rev", SqliteType.Integer));
        SelectLeaseKeys = Create(connection, "SELECT key FROM kv WHERE lease = $lease ORDER BY key", ("$lease", SqliteType.Integer));
        DeleteLeaseKeys = Create(connection, "DELETE FROM kv WHERE lease = $lease", ("$lease", SqliteType.Integer));
        InsertLease = Create(connection, "INSERT INTO leases(ttl_ms) VALUES ($ttl) RETURNING id", ("$ttl", SqliteType.Integer));
        DeleteLease = Create(connection, "DELETE FROM leases WHERE id = $lease", ("$lease", SqliteType.Integer));
    }

    public SqliteCommand SelectModRevision { get; }
    public SqliteCommand Upsert { get; }
    public SqliteCommand DeleteKey { get; }
    public SqliteCommand SelectRangeKeys { get; }
    public SqliteCommand DeleteRange { get; }
    public SqliteCommand SelectFromKeys { get; }
    public SqliteCommand DeleteFrom { get; }
    public SqliteCommand SetRevision { get; }
    public SqliteCommand SelectLeaseKeys { get; }
    public SqliteCommand DeleteLeaseKeys { get; }
    public SqliteCommand InsertLease { get; }
    public SqliteCommand DeleteLease { get; }

    /// <summary>Binds <paramref name="command"/> to <paramref name="transaction"/> and sets its parameters in order.</summary>
    public static SqliteCommand Bind(SqliteCommand command, SqliteTransaction transaction, object value0, object? value1 = null,
        object? value2 = null, object? value3 = null)
    {
        command.Transaction = transaction;
        SqliteParameterCollection parameters = command.Parameters;
        parameters[0].Value = value0;
        if (parameters.Count > 1)
            parameters[1].Value = value1;
        if (parameters.Count > 2)
            parameters[2].Value = value2;
        if (parameters.Count > 3)
            parameters[3].Value = value3;
        return command;
    }

    public void Dispose()
    {
        SelectModRevision.Dispose();
        Upsert.Dispose();
        DeleteKey.Dispose();
        SelectRangeKeys.Dispose();
        DeleteRange.Dispose();
        SelectFromKeys.Dispose();
        DeleteFrom.Dispose();
        SetRevision.Dispose();
        SelectLeaseKeys.Dispose();
        DeleteLeaseKeys.Dispose();
        InsertLease.Dispose();
        DeleteLease.Dispose();
    }

    private static SqliteCommand Create(SqliteConnection connection, string sql, params (string Name, SqliteType Type)[] parameters)
    {
        SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, SqliteType type) in parameters)
            command.Parameters.Add(name, type);
        return command;
    }
}
