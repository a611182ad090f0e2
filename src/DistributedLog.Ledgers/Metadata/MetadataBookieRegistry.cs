using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using DistributedLog.Bookie.Registration;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Ledgers.Metadata;

/// <summary>
/// The registered bookies, kept current by watching <c>bookies/available/</c> (watch first, then list, so no change is
/// missed). Registrations are lease-bound: a bookie that dies disappears when its lease expires. Each registration gives
/// the bookie's rack (<see cref="BookieRegistrationInfo.Rack"/>; none or an unreadable one counts as
/// <see cref="NetworkLocation.Default"/>) and its state: a bookie that announces itself read-only
/// (<see cref="BookieRegistrationInfo.ReadOnly"/>) is not placeable until it announces itself writable again
/// (<see cref="NotPlaceableReason"/>); registrations without a state count as writable. A bookie marked draining
/// (<c>bookies/draining/&lt;id&gt;</c>, <c>dlog admin decommission</c>) is not placeable either; the registry watches all of
/// <c>bookies/</c> to see both.
/// </summary>
public sealed class MetadataBookieRegistry : IBookieRegistry, IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _changedGate = new();
    private readonly ConcurrentDictionary<string, NetworkLocation> _lastKnown = new(StringComparer.Ordinal);
    private ImmutableSortedDictionary<string, RegisteredBookie> _registered = ImmutableSortedDictionary<string, RegisteredBookie>.Empty.WithComparers(StringComparer.Ordinal);
    private ImmutableSortedSet<string> _bookies = ImmutableSortedSet<string>.Empty.WithComparer(StringComparer.Ordinal);
    private ImmutableDictionary<string, ReadOnlyMemory<byte>> _registrations = ImmutableDictionary<string, ReadOnlyMemory<byte>>.Empty.WithComparers(StringComparer.Ordinal);
    private ImmutableHashSet<string> _draining = ImmutableHashSet<string>.Empty.WithComparer(StringComparer.Ordinal);
    private Task _loop = Task.CompletedTask;
    private IMetadataWatch? _watch;
    private long _listedRevision;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MetadataBookieRegistry(IMetadataStore store, ILogger logger)
    {
        _store = store;
        _logger = logger;
    }

    /// <summary>Starts watching the registrations.</summary>
    public static async Task<MetadataBookieRegistry> StartAsync(IMetadataStore store, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var registry = new MetadataBookieRegistry(store, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MetadataBookieRegistry>());
        var watch = await store.WatchAsync(BookieKeys.Prefix, isPrefix: true, cancellationToken);
        long revision = await registry.ReloadAsync(cancellationToken);
        registry._loop = registry.WatchLoopAsync(watch, revision);
        return registry;
    }

    /// <inheritdoc />
    public IReadOnlyCollection<string> WritableBookies => Volatile.Read(ref _bookies);

    /// <inheritdoc />
    public IReadOnlyCollection<RegisteredBookie> RegisteredBookies => Volatile.Read(ref _registered).Values.ToArray();

    /// <inheritdoc />
    public NetworkLocation? LocationOf(string bookieId) =>
        Volatile.Read(ref _registered).TryGetValue(bookieId, out var bookie) ? bookie.Location
        : _lastKnown.TryGetValue(bookieId, out var location) ? location
        : null;

    /// <summary>
    /// Why a registered bookie must not receive new ensembles or replacements, or null when it may: the one place that
    /// decides (a read-only bookie — full disk, storage failure — serves reads but takes no new ledgers).
    /// </summary>
    public static string? NotPlaceableReason(BookieRegistrationInfo? registration, bool draining = false) => draining ? "draining" : registration?.State switch
    {
        BookieRegistrationInfo.ReadOnly => "read-only",
        _ => null,
    };

    /// <summary>Reads a registration value; an unreadable one is a writable bookie in the default rack.</summary>
    internal static RegisteredBookie Parse(string bookieId, ReadOnlySpan<byte> value, bool draining = false)
    {
        BookieRegistrationInfo? info = null;
        try
        {
            info = JsonSerializer.Deserialize(value, BookieRegistrationJson.Default.BookieRegistrationInfo);
        }
        catch (JsonException)
        {
        }

        var location = NetworkLocation.TryParse(info?.Rack, out var parsed, out _) ? parsed : NetworkLocation.Default;
        return new RegisteredBookie(bookieId, location, NotPlaceableReason(info, draining));
    }

    /// <summary>Waits until at least <paramref name="count"/> bookies are registered.</summary>
    public async Task WaitForBookiesAsync(int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (WritableBookies.Count < count)
        {
            Task changed;
            lock (_changedGate)
            {
                changed = _changed.Task;
            }

            if (WritableBookies.Count >= count)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Only {WritableBookies.Count} of {count} bookies registered within {timeout}: [{string.Join(", ", WritableBookies)}].");
            }
        }
    }

    private async Task<long> ReloadAsync(CancellationToken cancellationToken)
    {
        var listing = await _store.ListAsync(BookieKeys.Prefix, cancellationToken);
        var registrations = ImmutableDictionary.CreateBuilder<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        var draining = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var item in listing)
        {
            if (item.Key.StartsWith(BookieKeys.AvailablePrefix, StringComparison.Ordinal))
            {
                registrations[item.Key[BookieKeys.AvailablePrefix.Length..]] = item.Value.ToArray();
            }
            else if (item.Key.StartsWith(BookieKeys.DrainingPrefix, StringComparison.Ordinal))
            {
                draining.Add(item.Key[BookieKeys.DrainingPrefix.Length..]);
            }
        }

        _registrations = registrations.ToImmutable();
        _draining = draining.ToImmutable();
        Rebuild();
        return listing.Revision;
    }

    /// <summary>Applies one watched change of <c>bookies/</c> (cookies are ignored).</summary>
    private void Apply(WatchEvent change)
    {
        if (change.Key.StartsWith(BookieKeys.AvailablePrefix, StringComparison.Ordinal))
        {
            string bookie = change.Key[BookieKeys.AvailablePrefix.Length..];
            _registrations = change.Type == WatchEventType.Put ? _registrations.SetItem(bookie, change.Value.ToArray()) : _registrations.Remove(bookie);
        }
        else if (change.Key.StartsWith(BookieKeys.DrainingPrefix, StringComparison.Ordinal))
        {
            string bookie = change.Key[BookieKeys.DrainingPrefix.Length..];
            _draining = change.Type == WatchEventType.Put ? _draining.Add(bookie) : _draining.Remove(bookie);
        }
        else
        {
            return;
        }

        Rebuild();
    }

    private void Rebuild()
    {
        var registered = ImmutableSortedDictionary.CreateBuilder<string, RegisteredBookie>(StringComparer.Ordinal);
        foreach (var (bookie, value) in _registrations)
        {
            registered[bookie] = Parse(bookie, value.Span, _draining.Contains(bookie));
        }

        Publish(registered.ToImmutable());
    }

    private async Task WatchLoopAsync(IMetadataWatch watch, long listedRevision)
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await using (watch)
                {
                    await foreach (var change in watch.WithCancellation(_stopping.Token))
                    {
                        if (change.Version <= listedRevision)
                        {
                            continue;
                        }

                        Apply(change);
                    }
                }

                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                throw new MetadataWatchLostException("the watch on bookie registrations ended");
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning("Watching bookie registrations failed ({Error}); listing and watching again", e.Message);
                if (!await RewatchAsync())
                {
                    return;
                }

                watch = _watch!;
                listedRevision = _listedRevision;
            }
        }
    }

    /// <summary>Watches and lists again, retrying with back-off until it works; false once stopping.</summary>
    private async Task<bool> RewatchAsync()
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5_000, 250 * Math.Pow(2, Math.Min(attempt, 5)))), _stopping.Token);
                _watch = await _store.WatchAsync(BookieKeys.Prefix, isPrefix: true, _stopping.Token);
                try
                {
                    _listedRevision = await ReloadAsync(_stopping.Token);
                }
                catch
                {
                    await _watch.DisposeAsync();
                    throw;
                }

                return true;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return false;
            }
            catch (Exception retry)
            {
                _logger.LogWarning("Re-watching bookie registrations failed (attempt {Attempt}: {Error}); retrying", attempt, retry.Message);
            }
        }
    }

    private void Publish(ImmutableSortedDictionary<string, RegisteredBookie> registered)
    {
        foreach (var bookie in registered.Values)
        {
            _lastKnown[bookie.Id] = bookie.Location;
        }

        Volatile.Write(ref _registered, registered);
        Volatile.Write(ref _bookies, registered.Values.Where(b => b.IsPlaceable).Select(b => b.Id).ToImmutableSortedSet(StringComparer.Ordinal));
        TaskCompletionSource changed;
        lock (_changedGate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }
}
