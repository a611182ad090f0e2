using System.Buffers.Text;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Metadata;

/// <summary>
/// Hands out unique, increasing ids (ledger ids and the like) from counter keys of a metadata store, with a
/// compare-and-set loop, so that any number of processes sharing the store never get the same id. A counter key holds
/// the last id handed out as decimal text; the first id of a new counter is 1.
/// </summary>
public sealed class MetadataIdGenerator
{
    private readonly IMetadataStore _store;

    /// <summary>Creates a generator on <paramref name="store"/>.</summary>
    /// <param name="store">The store that holds the counter keys.</param>
    public MetadataIdGenerator(IMetadataStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
    }

    /// <summary>Returns the next id of <paramref name="counterKey"/>: greater than every id it returned before, to any
    /// caller of this store.</summary>
    /// <param name="counterKey">The counter key, e.g. <c>counters/ledgers</c>.</param>
    /// <param name="cancellationToken">Cancels the loop.</param>
    /// <returns>The id.</returns>
    /// <exception cref="MetadataStoreException">The counter key holds something that is not a counter.</exception>
    public ValueTask<long> NextAsync(string counterKey, CancellationToken cancellationToken = default) =>
        ReserveAsync(counterKey, 1, cancellationToken);

    /// <summary>
    /// Reserves <paramref name="count"/> consecutive ids with one compare-and-set and returns the first: the ids
    /// <c>[first, first + count)</c> belong to the caller alone. Lets a busy client create many objects without
    /// contending on the counter for each.
    /// </summary>
    public async ValueTask<long> ReserveAsync(string counterKey, int count, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(counterKey);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        byte[] buffer = new byte[20];
        for (int attempt = 0; ; attempt++)
        {
            VersionedValue? current = await _store.GetAsync(counterKey, cancellationToken);
            long first = (current is null ? 0 : Parse(current)) + 1;
            long next = first + count - 1;
            Utf8Formatter.TryFormat(next, buffer, out int written);
            var transaction = new MetadataTransaction();
            if (current is null)
                transaction.IfAbsent(counterKey);
            else
                transaction.IfVersion(counterKey, current.Version);
            transaction.Put(counterKey, buffer.AsMemory(0, written));
            TransactionResult result = await _store.CommitAsync(transaction, cancellationToken);
            if (result.Succeeded)
                return first;
            if (attempt >= 2)
            {
                // Contended: back off a little, with jitter so that competing callers spread out.
#pragma warning disable CA5394 // Jitter, not security.
                int delay = Random.Shared.Next(1, 2 + Math.Min(attempt, 20));
#pragma warning restore CA5394
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    private static long Parse(VersionedValue current)
    {
        if (Utf8Parser.TryParse(current.Value.Span, out long value, out int consumed) && consumed == current.Value.Length && value >= 0)
            return value;
        throw new MetadataStoreException(StatusCode.MetadataException,
            $"The id counter '{current.Key}' holds {current.Value.Length} bytes that are not a decimal counter; it is not an id counter key.",
            isRetryable: false);
    }
}
