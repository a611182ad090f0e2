using DistributedLog.Metadata.Internal;

namespace DistributedLog.Metadata;

/// <summary>
/// A compare-and-set transaction for <see cref="IMetadataStore.CommitAsync"/>: conditions on key versions, and
/// operations that are applied atomically, under one new revision, only if every condition holds.
/// </summary>
/// <example>
/// Update ledger metadata only if nobody changed it since it was read:
/// <code>
/// var txn = new MetadataTransaction().IfVersion(key, read.Version).Put(key, updated);
/// var result = await store.CommitAsync(txn);
/// if (!result.Succeeded) { /* re-read and retry, or give up */ }
/// </code>
/// </example>
/// <remarks>A key may be put or deleted at most once per transaction, and not both put and deleted by a
/// <see cref="DeletePrefix"/> of the same transaction (etcd rejects such transactions; both backends do). A transaction
/// holds at most <see cref="MaxConditions"/> conditions and <see cref="MaxOperations"/> operations (etcd's default
/// <c>--max-txn-ops</c>).</remarks>
public sealed class MetadataTransaction
{
    /// <summary>Most conditions in one transaction.</summary>
    public const int MaxConditions = 128;

    /// <summary>Most operations in one transaction.</summary>
    public const int MaxOperations = 128;

    private readonly List<TxnCondition> _conditions = [];
    private readonly List<TxnOperation> _operations = [];

    /// <summary>The conditions, in the order they were added.</summary>
    public IReadOnlyList<TxnCondition> Conditions => _conditions;

    /// <summary>The operations, in the order they are applied.</summary>
    public IReadOnlyList<TxnOperation> Operations => _operations;

    /// <summary>Requires <paramref name="key"/> to exist with exactly this <see cref="VersionedValue.Version"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="version">The version read earlier (&gt; 0).</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction IfVersion(string key, long version)
    {
        MetadataKeys.ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(version);
        _conditions.Add(new TxnCondition(TxnConditionKind.VersionEquals, key, version));
        return this;
    }

    /// <summary>Requires <paramref name="key"/> not to exist (create-if-absent).</summary>
    /// <param name="key">The key.</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction IfAbsent(string key)
    {
        MetadataKeys.ValidateKey(key);
        _conditions.Add(new TxnCondition(TxnConditionKind.Absent, key, 0));
        return this;
    }

    /// <summary>Requires <paramref name="key"/> to exist, whatever its version.</summary>
    /// <param name="key">The key.</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction IfExists(string key)
    {
        MetadataKeys.ValidateKey(key);
        _conditions.Add(new TxnCondition(TxnConditionKind.Exists, key, 0));
        return this;
    }

    /// <summary>Creates or replaces <paramref name="key"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value; not copied until the transaction is committed, so keep it unchanged until then.</param>
    /// <param name="leaseId">The lease to bind the key to, or 0.</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction Put(string key, ReadOnlyMemory<byte> value, long leaseId = 0)
    {
        MetadataKeys.ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfNegative(leaseId);
        _operations.Add(new TxnOperation(TxnOperationKind.Put, key, value, leaseId));
        return this;
    }

    /// <summary>Deletes <paramref name="key"/> if it exists.</summary>
    /// <param name="key">The key.</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction Delete(string key)
    {
        MetadataKeys.ValidateKey(key);
        _operations.Add(new TxnOperation(TxnOperationKind.Delete, key, default, 0));
        return this;
    }

    /// <summary>Deletes every key that starts with <paramref name="prefix"/>.</summary>
    /// <param name="prefix">The prefix; empty deletes every key of the store.</param>
    /// <returns>This transaction.</returns>
    public MetadataTransaction DeletePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        _operations.Add(new TxnOperation(TxnOperationKind.DeletePrefix, prefix, default, 0));
        return this;
    }

    /// <summary>Checks the limits and that no key is written twice; both backends call this before committing.</summary>
    internal void Validate()
    {
        if (_conditions.Count > MaxConditions)
            throw new ArgumentException($"A metadata transaction holds at most {MaxConditions} conditions; this one has {_conditions.Count}.");
        if (_operations.Count > MaxOperations)
            throw new ArgumentException($"A metadata transaction holds at most {MaxOperations} operations; this one has {_operations.Count}.");
        for (int i = 0; i < _operations.Count; i++)
        {
            TxnOperation a = _operations[i];
            for (int j = i + 1; j < _operations.Count; j++)
            {
                TxnOperation b = _operations[j];
                if (a.Kind == TxnOperationKind.Put || b.Kind == TxnOperationKind.Put)
                {
                    if (Overlaps(a, b))
                        throw new ArgumentException($"A metadata transaction writes key '{(a.Kind == TxnOperationKind.Put ? a.Key : b.Key)}' twice; each key may be put or deleted once.");
                }
                else if (a.Kind == TxnOperationKind.Delete && b.Kind == TxnOperationKind.Delete && a.Key == b.Key)
                {
                    throw new ArgumentException($"A metadata transaction deletes key '{a.Key}' twice.");
                }
            }
        }
    }

    private static bool Overlaps(TxnOperation a, TxnOperation b)
    {
        if (a.Kind == TxnOperationKind.DeletePrefix)
            return b.Key.StartsWith(a.Key, StringComparison.Ordinal);
        if (b.Kind == TxnOperationKind.DeletePrefix)
            return a.Key.StartsWith(b.Key, StringComparison.Ordinal);
        return string.Equals(a.Key, b.Key, StringComparison.Ordinal);
    }
}

/// <summary>What a <see cref="TxnCondition"/> requires of its key.</summary>
public enum TxnConditionKind
{
    /// <summary>The key exists with exactly <see cref="TxnCondition.Version"/>.</summary>
    VersionEquals,
    /// <summary>The key does not exist.</summary>
    Absent,
    /// <summary>The key exists.</summary>
    Exists,
}

/// <summary>One condition of a <see cref="MetadataTransaction"/>.</summary>
public readonly struct TxnCondition
{
    /// <summary>Creates a condition.</summary>
    /// <param name="kind">What is required.</param>
    /// <param name="key">The key.</param>
    /// <param name="version">The version required, for <see cref="TxnConditionKind.VersionEquals"/>.</param>
    public TxnCondition(TxnConditionKind kind, string key, long version)
    {
        Kind = kind;
        Key = key;
        Version = version;
    }

    /// <summary>What is required.</summary>
    public TxnConditionKind Kind { get; }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>The version required, for <see cref="TxnConditionKind.VersionEquals"/>; 0 otherwise.</summary>
    public long Version { get; }

    /// <summary>Whether a key with this mod revision (0 when absent) satisfies the condition.</summary>
    internal bool IsMetBy(long modRevision) => Kind switch
    {
        TxnConditionKind.VersionEquals => modRevision == Version,
        TxnConditionKind.Absent => modRevision == 0,
        _ => modRevision != 0,
    };
}

/// <summary>What a <see cref="TxnOperation"/> does.</summary>
public enum TxnOperationKind
{
    /// <summary>Create or replace a key.</summary>
    Put,
    /// <summary>Delete a key.</summary>
    Delete,
    /// <summary>Delete every key under a prefix.</summary>
    DeletePrefix,
}

/// <summary>One operation of a <see cref="MetadataTransaction"/>.</summary>
public readonly struct TxnOperation
{
    /// <summary>Creates an operation.</summary>
    /// <param name="kind">What it does.</param>
    /// <param name="key">The key, or the prefix for <see cref="TxnOperationKind.DeletePrefix"/>.</param>
    /// <param name="value">The value to put.</param>
    /// <param name="leaseId">The lease to bind a put key to, or 0.</param>
    public TxnOperation(TxnOperationKind kind, string key, ReadOnlyMemory<byte> value, long leaseId)
    {
        Kind = kind;
        Key = key;
        Value = value;
        LeaseId = leaseId;
    }

    /// <summary>What it does.</summary>
    public TxnOperationKind Kind { get; }

    /// <summary>The key, or the prefix for <see cref="TxnOperationKind.DeletePrefix"/>.</summary>
    public string Key { get; }

    /// <summary>The value to put; empty for deletes.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The lease to bind a put key to, or 0.</summary>
    public long LeaseId { get; }
}
