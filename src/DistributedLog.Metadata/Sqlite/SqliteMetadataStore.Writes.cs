using System.Text;
using DistributedLog.Metadata.Internal;
using Microsoft.Data.Sqlite;

namespace DistributedLog.Metadata.Sqlite;

public sealed partial class SqliteMetadataStore
{
    /// <inheritdoc />
    public async ValueTask<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default)
    {
        var transaction = new MetadataTransaction().Put(key, value, leaseId);
        (TransactionResult result, _) = await ApplyAsync(transaction, "put", key, cancellationToken);
        return result.Revision;
    }

    /// <inheritdoc />
    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var transaction = new MetadataTransaction().Delete(key);
        (_, long deleted) = await ApplyAsync(transaction, "delete", key, cancellationToken);
        return deleted > 0;
    }

    /// <inheritdoc />
    public async ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var transaction = new MetadataTransaction().DeletePrefix(prefix);
        (_, long deleted) = await ApplyAsync(transaction, "delete prefix", prefix, cancellationToken);
        return deleted;
    }

    /// <inheritdoc />
    public async ValueTask<TransactionResult> CommitAsync(MetadataTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        transaction.Validate();
        (TransactionResult result, _) = await ApplyAsync(transaction, "commit a transaction", null, cancellationToken);
        return result;
    }

    private async ValueTask<(TransactionResult Result, long Deleted)> ApplyAsync(
        MetadataTransaction transaction, string operation, string? key, CancellationToken cancellationToken)
    {
        await EnterWriteAsync(cancellationToken);
        try
        {
            return Apply(transaction);
        }
        catch (SqliteException e)
        {
            throw Translate(e, operation, key);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Waits for the write gate; throws if the store is disposed (before or while waiting).</summary>
    private async ValueTask EnterWriteAsync(CancellationToken cancellationToken)
    {
        ThrowIfUnusable(cancellationToken);
        await _gate.WaitAsync(cancellationToken);
        if (Volatile.Read(ref _disposed) != 0)
        {
            _gate.Release();
            throw new ObjectDisposedException(nameof(SqliteMetadataStore));
        }
    }

    /// <summary>Applies a transaction on the writer connection; called under the write gate.</summary>
    private (TransactionResult Result, long Deleted) Apply(MetadataTransaction transaction)
    {
        IReadOnlyList<TxnOperation> operations = transaction.Operations;
        foreach (TxnOperation operation in operations)
        {
            if (operation.Kind == TxnOperationKind.Put && operation.LeaseId != 0 && !LeaseExists(operation.LeaseId))
                throw LeaseNotFound(operation.LeaseId, operation.Key);
        }

        using SqliteTransaction sqlite = _writer.BeginTransaction();
        foreach (TxnCondition condition in transaction.Conditions)
        {
            object? found = WriterStatements.Bind(_sql.SelectModRevision, sqlite, Encoding.UTF8.GetBytes(condition.Key)).ExecuteScalar();
            long modRevision = found is null ? 0 : (long)found;
            if (!condition.IsMetBy(modRevision))
            {
                sqlite.Rollback();
                return (new TransactionResult(false, _revision), 0);
            }
        }

        long revision = _revision + 1;
        bool changed = false;
        long deleted = 0;
        List<WatchEvent>? events = HasWatchers ? [] : null;
        foreach (TxnOperation operation in operations)
        {
            switch (operation.Kind)
            {
                case TxnOperationKind.Put:
                {
                    byte[] value = operation.Value.ToArray();
                    WriterStatements.Bind(_sql.Upsert, sqlite, Encoding.UTF8.GetBytes(operation.Key), value, revision, operation.LeaseId)
                        .ExecuteNonQuery();
                    changed = true;
                    events?.Add(new WatchEvent(WatchEventType.Put, operation.Key, value, revision));
                    break;
                }
                case TxnOperationKind.Delete:
                {
                    if (WriterStatements.Bind(_sql.DeleteKey, sqlite, Encoding.UTF8.GetBytes(operation.Key)).ExecuteNonQuery() > 0)
                    {
                        changed = true;
                        deleted++;
                        events?.Add(new WatchEvent(WatchEventType.Delete, operation.Key, default, revision));
                    }
                    break;
                }
                default:
                {
                    long count = DeletePrefix(sqlite, operation.Key, revision, events);
                    changed |= count > 0;
                    deleted += count;
                    break;
                }
            }
        }

        if (!changed)
        {
            sqlite.Rollback();
            return (new TransactionResult(true, _revision), 0);
        }
        WriterStatements.Bind(_sql.SetRevision, sqlite, revision).ExecuteNonQuery();
        sqlite.Commit();
        Volatile.Write(ref _revision, revision);
        if (events is not null)
            Publish(events);
        return (new TransactionResult(true, revision), deleted);
    }

    private long DeletePrefix(SqliteTransaction sqlite, string prefix, long revision, List<WatchEvent>? events)
    {
        byte[] from = Encoding.UTF8.GetBytes(prefix);
        byte[]? to = MetadataKeys.PrefixEnd(from);
        if (events is not null)
        {
            SqliteCommand select = to is null
                ? WriterStatements.Bind(_sql.SelectFromKeys, sqlite, from)
                : WriterStatements.Bind(_sql.SelectRangeKeys, sqlite, from, to);
            using SqliteDataReader reader = select.ExecuteReader();
            while (reader.Read())
                events.Add(new WatchEvent(WatchEventType.Delete, Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)), default, revision));
        }
        SqliteCommand delete = to is null
            ? WriterStatements.Bind(_sql.DeleteFrom, sqlite, from)
            : WriterStatements.Bind(_sql.DeleteRange, sqlite, from, to);
        return delete.ExecuteNonQuery();
    }
}
