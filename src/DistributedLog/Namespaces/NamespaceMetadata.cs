using System.Runtime.CompilerServices;
using System.Text.Json;
using DistributedLog.Metadata;
using DistributedLog.Naming;
using DistributedLog.Protocol.Errors;
using DistributedLog.Segments;

namespace DistributedLog.Namespaces;

/// <summary>A log appeared in or disappeared from a namespace.</summary>
/// <param name="Name">The log's name.</param>
/// <param name="Exists">True when it was created, false when it was deleted.</param>
public readonly record struct LogChange(string Name, bool Exists);

/// <summary>
/// The namespace-level metadata operations of DistributedLog (<c>createLog</c>, <c>deleteLog</c>, <c>renameLog</c>,
/// <c>logExists</c>, <c>getLogs</c>, namespace listeners) and typed access to each log's records, over an
/// <see cref="IMetadataStore"/> with the <see cref="NamespaceLayout"/>. Every name is validated with <see cref="LogName"/>.
/// </summary>
public sealed class NamespaceMetadata(IMetadataStore store, string namespaceName)
{
    /// <summary>Most segments a log may have to be renamed (a rename is one atomic transaction).</summary>
    public const int MaxSegmentsToRename = 100;

    /// <summary>The key layout.</summary>
    public NamespaceLayout Layout { get; } = new(namespaceName);

    /// <summary>Creates a log.</summary>
    /// <exception cref="LogExistsException">A log of that name exists.</exception>
    public async Task CreateLogAsync(string name, CancellationToken cancellationToken = default)
    {
        name = LogName.Validate(name);
        string key = Layout.Log(name);
        var record = new LogMetadata { CreatedAt = DateTimeOffset.UtcNow };
        var result = await store.CommitAsync(new MetadataTransaction().IfAbsent(key).Put(key, Serialize(record)), cancellationToken);
        if (!result.Succeeded)
        {
            throw new LogExistsException($"Log '{name}' already exists in namespace '{Layout.Name}'.");
        }
    }

    /// <summary>Whether the log exists.</summary>
    public async Task<bool> LogExistsAsync(string name, CancellationToken cancellationToken = default) =>
        await store.GetAsync(Layout.Log(LogName.Validate(name)), cancellationToken) is not null;

    /// <summary>The log's record and its version.</summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    public async Task<(LogMetadata Log, long Version)> GetLogAsync(string name, CancellationToken cancellationToken = default)
    {
        name = LogName.Validate(name);
        var value = await store.GetAsync(Layout.Log(name), cancellationToken)
            ?? throw new LogNotFoundException($"Log '{name}' does not exist in namespace '{Layout.Name}'.");
        return (Deserialize(value.Key, value.Value.Span, LogMetadataJson.Default.LogMetadata), value.Version);
    }

    /// <summary>The logs whose names start with <paramref name="prefix"/> (all when empty), in name order.</summary>
    public async Task<IReadOnlyList<string>> ListLogsAsync(string prefix = "", CancellationToken cancellationToken = default)
    {
        var listing = await store.ListAsync(Layout.LogsPrefix + LogName.Encode(prefix), cancellationToken);
        var names = new List<string>(listing.Count);
        foreach (var item in listing)
        {
            names.Add(Layout.LogNameOf(item.Key));
        }

        return names;
    }

    /// <summary>The log's segments, in LSSN order.</summary>
    public async Task<IReadOnlyList<(LogSegmentMetadata Segment, long Version)>> GetSegmentsAsync(string name, CancellationToken cancellationToken = default)
    {
        var listing = await store.ListAsync(Layout.Segments(LogName.Validate(name)), cancellationToken);
        return [.. listing.Select(v => (LogSegmentMetadata.FromJson(v.Key, v.Value.Span), v.Version))];
    }

    /// <summary>
    /// Deletes a log's metadata (record, segments, subscribers) in one transaction and returns the ledger ids of its segments
    /// (the caller deletes the ledgers). Refused while a writer holds the log, as in DistributedLog.
    /// </summary>
    /// <exception cref="LogNotFoundException">No such log.</exception>
    /// <exception cref="LockingException">A writer owns the log.</exception>
    public async Task<IReadOnlyList<long>> DeleteLogAsync(string name, CancellationToken cancellationToken = default)
    {
        name = LogName.Validate(name);
        while (true)
        {
            var (_, version) = await GetLogAsync(name, cancellationToken);
            var segments = await GetSegmentsAsync(name, cancellationToken);
            var transaction = new MetadataTransaction()
                .IfVersion(Layout.Log(name), version)
                .IfAbsent(Layout.Lock(name))
                .Delete(Layout.Log(name))
                .DeletePrefix(Layout.Segments(name))
                .DeletePrefix(Layout.Subscribers(name));
            if ((await store.CommitAsync(transaction, cancellationToken)).Succeeded)
            {
                return [.. segments.Select(s => s.Segment.LedgerId)];
            }

            if (await store.GetAsync(Layout.Lock(name), cancellationToken) is not null)
            {
                throw new LockingException($"Log '{name}' has an active writer; close it before deleting the log.");
            }
        }
    }

    /// <summary>Renames a log (its record, segments and subscribers move atomically). Refused while a writer holds it.</summary>
    /// <exception cref="LogNotFoundException">No log <paramref name="from"/>.</exception>
    /// <exception cref="LogExistsException">A log <paramref name="to"/> exists.</exception>
    public async Task RenameLogAsync(string from, string to, CancellationToken cancellationToken = default)
    {
        from = LogName.Validate(from);
        to = LogName.Validate(to);
        if (from == to)
        {
            return;
        }

        while (true)
        {
            var log = await store.GetAsync(Layout.Log(from), cancellationToken)
                ?? throw new LogNotFoundException($"Log '{from}' does not exist in namespace '{Layout.Name}'.");
            var segments = await store.ListAsync(Layout.Segments(from), cancellationToken);
            var subscribers = await store.ListAsync(Layout.Subscribers(from), cancellationToken);
            if (segments.Count + subscribers.Count > MaxSegmentsToRename)
            {
                throw new DlException(StatusCode.IllegalState,
                    $"Log '{from}' has {segments.Count} segments and {subscribers.Count} subscribers; renaming moves at most {MaxSegmentsToRename} atomically. Truncate it first.");
            }

            var transaction = new MetadataTransaction()
                .IfVersion(Layout.Log(from), log.Version)
                .IfAbsent(Layout.Log(to))
                .IfAbsent(Layout.Lock(from))
                .Put(Layout.Log(to), log.Value)
                .Delete(Layout.Log(from));
            foreach (var segment in segments)
            {
                transaction.IfVersion(segment.Key, segment.Version).Put(Layout.Segments(to) + segment.Key[Layout.Segments(from).Length..], segment.Value);
            }

            foreach (var subscriber in subscribers)
            {
                transaction.Put(Layout.Subscribers(to) + subscriber.Key[Layout.Subscribers(from).Length..], subscriber.Value);
            }

            transaction.DeletePrefix(Layout.Segments(from)).DeletePrefix(Layout.Subscribers(from));
            if ((await store.CommitAsync(transaction, cancellationToken)).Succeeded)
            {
                return;
            }

            if (await store.GetAsync(Layout.Log(to), cancellationToken) is not null)
            {
                throw new LogExistsException($"Cannot rename '{from}' to '{to}': a log named '{to}' exists.");
            }

            if (await store.GetAsync(Layout.Lock(from), cancellationToken) is not null)
            {
                throw new LockingException($"Log '{from}' has an active writer; close it before renaming the log.");
            }
        }
    }

    /// <summary>
    /// Watches logs appearing and disappearing (DistributedLog's namespace listener): first every existing log whose name
    /// starts with <paramref name="prefix"/> (as created), then each change. Nothing is missed between the two.
    /// </summary>
    public async IAsyncEnumerable<LogChange> WatchLogsAsync(string prefix = "", [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string keyPrefix = Layout.LogsPrefix + LogName.Encode(prefix);
        await using var watch = await store.WatchAsync(keyPrefix, isPrefix: true, cancellationToken);
        var listing = await store.ListAsync(keyPrefix, cancellationToken);
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in listing)
        {
            string name = Layout.LogNameOf(item.Key);
            known.Add(name);
            yield return new LogChange(name, true);
        }

        await foreach (var change in watch.WithCancellation(cancellationToken))
        {
            if (change.Version <= listing.Revision)
            {
                continue;
            }

            // A put of a known log (its max txid moved) is not a new log: only creations and deletions are reported.
            string name = Layout.LogNameOf(change.Key);
            bool exists = change.Type == WatchEventType.Put;
            if (exists ? known.Add(name) : known.Remove(name))
            {
                yield return new LogChange(name, exists);
            }
        }
    }

    private static byte[] Serialize(LogMetadata record) => JsonSerializer.SerializeToUtf8Bytes(record, LogMetadataJson.Default.LogMetadata);

    private static T Deserialize<T>(string key, ReadOnlySpan<byte> json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new JsonException("empty record");
        }
        catch (JsonException e)
        {
            throw new DlException(StatusCode.MetadataException, $"The metadata record '{key}' is unreadable: {e.Message}");
        }
    }
}
