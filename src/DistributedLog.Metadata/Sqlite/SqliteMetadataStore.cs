using System.Text;
using DistributedLog.Metadata.Internal;
using DistributedLog.Protocol.Errors;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Metadata.Sqlite;

/// <summary>
/// The embedded metadata store: one SQLite file used by one process (the sandbox, tests, embedded use).
/// </summary>
/// <remarks>
/// <para><b>Durability</b>: the file runs in WAL mode with <c>synchronous=FULL</c>, so every write is on disk when
/// its call returns and survives a crash or restart. Writes are serialized on one connection; reads use pooled
/// connections and see the last committed write.</para>
/// <para><b>Versions</b> follow etcd: a revision counter kept in the file rises by one with each write transaction
/// that changes something; a key's version is the revision that last modified it.</para>
/// <para><b>Leases</b> are stored with their TTL; their expiry times live in memory and are renewed there. A background
/// sweeper (every <see cref="MetadataStoreOptions.LeaseSweepInterval"/>) deletes expired leases and their keys. When the
/// file is opened again, every lease left by the previous process gets a full TTL from that moment, and expires when it
/// passes without renewal (as etcd does after a restart).</para>
/// <para><b>Watches</b> are notified in-process after each committed write.</para>
/// <para>Only one store instance may have the file open at a time: a second one, in this or another process, fails
/// with a clear error (a lock file beside the database guards it). Share metadata between processes through etcd.</para>
/// </remarks>
public sealed partial class SqliteMetadataStore : IMetadataStore
{
    private const long FormatVersion = 1;

    private readonly string _path;
    private readonly FileStream _fileLock;
    private readonly SqliteConnection _writer;
    private readonly string _readConnectionString;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly MetadataStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly WriterStatements _sql;
    private Task _sweeper = Task.CompletedTask;
    private long _revision;
    private int _disposed;

    private SqliteMetadataStore(string path, FileStream fileLock, SqliteConnection writer, string readConnectionString, MetadataStoreOptions options)
    {
        _path = path;
        _fileLock = fileLock;
        _writer = writer;
        _readConnectionString = readConnectionString;
        _options = options;
        _time = options.TimeProvider;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SqliteMetadataStore>();
        _sql = new WriterStatements(writer);
        Location = new Uri(path).AbsoluteUri;
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <summary>The current store revision (the version the next write transaction builds on).</summary>
    public long Revision => Volatile.Read(ref _revision);

    /// <summary>Opens (creating if needed, with its directory) the metadata file at <paramref name="path"/>.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="options">Settings; defaults when <see langword="null"/>.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="MetadataStoreException">The file is in use by another store instance, is not a metadata
    /// database, was written by a newer version, or cannot be created.</exception>
    public static SqliteMetadataStore Open(string path, MetadataStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new MetadataStoreOptions();
        string fullPath = Path.GetFullPath(path);
        FileStream fileLock = AcquireFileLock(fullPath);
        SqliteConnection? writer = null;
        try
        {
            var builder = new SqliteConnectionStringBuilder
            {
                DataSource = fullPath,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
            };
            writer = new SqliteConnection(builder.ConnectionString);
            writer.Open();
            Execute(writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
            long revision = InitializeSchema(writer, fullPath);
            builder.Mode = SqliteOpenMode.ReadWrite;
            builder.Pooling = true;
            var store = new SqliteMetadataStore(fullPath, fileLock, writer, builder.ConnectionString, options);
            store._revision = revision;
            store.LoadLeases();
            store._sweeper = Task.Run(store.SweepLoopAsync);
            return store;
        }
        catch (SqliteException e)
        {
            writer?.Dispose();
            fileLock.Dispose();
            throw TranslateOpen(e, fullPath);
        }
        catch
        {
            writer?.Dispose();
            fileLock.Dispose();
            throw;
        }
    }

    private static FileStream AcquireFileLock(string fullPath)
    {
        try
        {
            string? directory = Path.GetDirectoryName(fullPath);
            if (!string.IsNullOrEmpty(directory))
                Directory.CreateDirectory(directory);
            return new FileStream(fullPath + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new MetadataStoreException(StatusCode.MetadataStoreError,
                $"The SQLite metadata store '{fullPath}' is already open in another store instance or process (its lock file " +
                $"'{fullPath}.lock' is held). Only one process may use an embedded metadata store at a time; close the other " +
                "one, or use etcd for metadata shared between processes.", isRetryable: false, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new MetadataStoreException(StatusCode.MetadataStoreError,
                $"Cannot create or lock the SQLite metadata store '{fullPath}': {e.Message}", isRetryable: false, e);
        }
    }

    private static long InitializeSchema(SqliteConnection connection, string path)
    {
        using SqliteTransaction transaction = connection.BeginTransaction();
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS kv (
                key BLOB NOT NULL PRIMARY KEY,
                value BLOB NOT NULL,
                mod_rev INTEGER NOT NULL,
                create_rev INTEGER NOT NULL,
                lease INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS kv_by_lease ON kv(lease);
            CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            INSERT OR IGNORE INTO meta(name, value) VALUES ('format', 1), ('revision', 0);
            """, transaction);
        long format = ReadMeta(connection, transaction, "format");
        if (format > FormatVersion)
        {
            throw new MetadataStoreException(StatusCode.UnsupportedMetadataVersion,
                $"The SQLite metadata store '{path}' has format {format}, written by a newer version of DistributedLog; " +
                $"this version reads format {FormatVersion} only. Upgrade DistributedLog to open it.", isRetryable: false);
        }
        long revision = ReadMeta(connection, transaction, "revision");
        transaction.Commit();
        return revision;
    }

    private static long ReadMeta(SqliteConnection connection, SqliteTransaction? transaction, string name)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT value FROM meta WHERE name = $name";
        command.Parameters.AddWithValue("$name", name);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public async ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.ValidateKey(key);
        ThrowIfUnusable(cancellationToken);
        try
        {
            await using SqliteConnection connection = await OpenReaderAsync(cancellationToken);
            await using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "SELECT value, mod_rev, create_rev, lease FROM kv WHERE key = $key";
            command.Parameters.Add("$key", SqliteType.Blob).Value = Encoding.UTF8.GetBytes(key);
            await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                return null;
            return new VersionedValue(key, reader.GetFieldValue<byte[]>(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }
        catch (SqliteException e)
        {
            throw Translate(e, "get", key);
        }
    }

    /// <inheritdoc />
    public ValueTask<MetadataListing> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        byte[] from = Encoding.UTF8.GetBytes(prefix);
        return ListAsync(from, MetadataKeys.PrefixEnd(from), 0, "list prefix", prefix, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<MetadataListing> ListRangeAsync(string fromKey, string? toKey, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fromKey);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        byte[]? to = toKey is null ? null : Encoding.UTF8.GetBytes(toKey);
        return ListAsync(Encoding.UTF8.GetBytes(fromKey), to, limit, "list range from", fromKey, cancellationToken);
    }

    private async ValueTask<MetadataListing> ListAsync(byte[] from, byte[]? to, int limit, string operation, string key, CancellationToken cancellationToken)
    {
        ThrowIfUnusable(cancellationToken);
        try
        {
            await using SqliteConnection connection = await OpenReaderAsync(cancellationToken);
            // A deferred transaction takes no write lock: one consistent snapshot for the rows and the revision.
            await using SqliteTransaction transaction = connection.BeginTransaction(deferred: true);
            await using SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = to is null
                ? "SELECT key, value, mod_rev, create_rev, lease FROM kv WHERE key >= $from ORDER BY key LIMIT $limit"
                : "SELECT key, value, mod_rev, create_rev, lease FROM kv WHERE key >= $from AND key < $to ORDER BY key LIMIT $limit";
            command.Parameters.Add("$from", SqliteType.Blob).Value = from;
            if (to is not null)
                command.Parameters.Add("$to", SqliteType.Blob).Value = to;
            command.Parameters.AddWithValue("$limit", limit == 0 ? -1L : limit);
            var items = new List<VersionedValue>();
            await using (SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    items.Add(new VersionedValue(Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)),
                        reader.GetFieldValue<byte[]>(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
                }
            }
            long revision = ReadMeta(connection, transaction, "revision");
            await transaction.CommitAsync(cancellationToken);
            return new MetadataListing(items, revision);
        }
        catch (SqliteException e)
        {
            throw Translate(e, operation, key);
        }
    }

    private async ValueTask<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_readConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private void ThrowIfUnusable(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private MetadataStoreException Translate(SqliteException e, string operation, string? key)
    {
        string what = key is null ? operation : $"{operation} '{key}'";
        return e.SqliteErrorCode switch
        {
            // SQLITE_BUSY, SQLITE_LOCKED: another connection holds the file.
            5 or 6 => new MetadataStoreUnavailableException(
                $"The SQLite metadata store '{_path}' is busy: {what} failed ({e.Message}). The operation can be retried.",
                outcomeUnknown: false, e),
            // SQLITE_FULL
            13 => new MetadataStoreException(StatusCode.MetadataStoreError,
                $"The disk of the SQLite metadata store '{_path}' is full: {what} failed. Free space, then retry.", isRetryable: true, e),
            // SQLITE_CORRUPT, SQLITE_NOTADB
            11 or 26 => new MetadataStoreException(StatusCode.MetadataException,
                $"The SQLite metadata store '{_path}' is corrupt: {what} failed ({e.Message}). Restore it from a backup.", isRetryable: false, e),
            _ => new MetadataStoreException(StatusCode.MetadataStoreError,
                $"The SQLite metadata store '{_path}' failed: {what} ({e.Message}).", isRetryable: false, e),
        };
    }

    private static MetadataStoreException TranslateOpen(SqliteException e, string path) => e.SqliteErrorCode switch
    {
        26 => new MetadataStoreException(StatusCode.MetadataException,
            $"'{path}' is not a SQLite metadata store (SQLite: {e.Message}). Point the store at a new path or at a metadata file.",
            isRetryable: false, e),
        11 => new MetadataStoreException(StatusCode.MetadataException,
            $"The SQLite metadata store '{path}' is corrupt (SQLite: {e.Message}). Restore it from a backup.", isRetryable: false, e),
        _ => new MetadataStoreException(StatusCode.MetadataStoreError,
            $"Cannot open the SQLite metadata store '{path}': {e.Message}", isRetryable: false, e),
    };

    /// <summary>Stops the lease sweeper, ends every watch (with <see cref="MetadataWatchLostException"/>), marks the leases
    /// of this instance lost (they expire one TTL after the file is opened again) and closes the file.</summary>
    /// <returns>A task that completes when the file is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync();
        try
        {
            await _sweeper;
        }
        catch (OperationCanceledException)
        {
        }
        await _gate.WaitAsync();
        try
        {
            AbortWatches();
            AbandonLeases();
            _sql.Dispose();
            _writer.Dispose();
            using (var pooled = new SqliteConnection(_readConnectionString))
                SqliteConnection.ClearPool(pooled);
            await _fileLock.DisposeAsync();
        }
        finally
        {
            _gate.Release();
        }
        _stopping.Dispose();
    }
}
