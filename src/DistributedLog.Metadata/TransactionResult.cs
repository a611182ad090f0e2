namespace DistributedLog.Metadata;

/// <summary>The outcome of <see cref="IMetadataStore.CommitAsync"/>.</summary>
public readonly struct TransactionResult
{
    /// <summary>Creates a result.</summary>
    /// <param name="succeeded">Whether every condition held and the operations were applied.</param>
    /// <param name="revision">The store revision after the transaction.</param>
    public TransactionResult(bool succeeded, long revision)
    {
        Succeeded = succeeded;
        Revision = revision;
    }

    /// <summary>Whether every condition held, so that all operations were applied. When <see langword="false"/>,
    /// nothing was applied: re-read the keys and decide again.</summary>
    public bool Succeeded { get; }

    /// <summary>When the transaction succeeded and changed something: the new store revision, which is the
    /// <see cref="VersionedValue.Version"/> of every key it put. Otherwise the store's current revision.</summary>
    public long Revision { get; }

    /// <inheritdoc />
    public override string ToString() => Succeeded ? $"succeeded at revision {Revision}" : $"failed (revision {Revision})";
}
