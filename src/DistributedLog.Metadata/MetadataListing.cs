using System.Collections;

namespace DistributedLog.Metadata;

/// <summary>The result of a listing: the keys found, sorted by key, and the store revision they reflect.</summary>
public sealed class MetadataListing : IReadOnlyList<VersionedValue>
{
    private readonly IReadOnlyList<VersionedValue> _items;

    /// <summary>Creates a listing.</summary>
    /// <param name="items">The keys found, sorted by key.</param>
    /// <param name="revision">The store revision of the snapshot the keys were read from.</param>
    public MetadataListing(IReadOnlyList<VersionedValue> items, long revision)
    {
        ArgumentNullException.ThrowIfNull(items);
        _items = items;
        Revision = revision;
    }

    /// <summary>The store revision of the snapshot the keys were read from: every change up to it is reflected, none
    /// after it. Watch events with a version not greater than this are already in the listing.</summary>
    public long Revision { get; }

    /// <summary>How many keys were found.</summary>
    public int Count => _items.Count;

    /// <summary>The key at <paramref name="index"/> in key order.</summary>
    /// <param name="index">The position.</param>
    public VersionedValue this[int index] => _items[index];

    /// <inheritdoc />
    public IEnumerator<VersionedValue> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
