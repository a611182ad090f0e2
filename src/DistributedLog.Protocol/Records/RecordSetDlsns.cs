using System.Collections;

namespace DistributedLog.Protocol.Records;

/// <summary>
/// The DLSNs of the records of one record set: they share the set's entry and take consecutive slots, so inner record
/// <c>i</c> is at <c>(First.LogSegmentSequenceNo, First.EntryId, First.SlotId + i)</c>. Allocates nothing.
/// </summary>
/// <param name="First">DLSN of the set's first record (what the write of the set completes with).</param>
/// <param name="Count">Number of records in the set.</param>
public readonly record struct RecordSetDlsns(Dlsn First, int Count) : IReadOnlyList<Dlsn>
{
    /// <summary>DLSN of the set's last record.</summary>
    public Dlsn Last => this[Count - 1];

    /// <summary>DLSN of inner record <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside 0 .. Count-1.</exception>
    public Dlsn this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return new Dlsn(First.LogSegmentSequenceNo, First.EntryId, First.SlotId + index);
        }
    }

    /// <inheritdoc/>
    public IEnumerator<Dlsn> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
