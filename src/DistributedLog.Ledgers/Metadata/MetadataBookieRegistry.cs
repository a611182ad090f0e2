using System.Collections.Immutable;
using DistributedLog.Bookie.Registration;
using DistributedLog.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Ledgers.Metadata;

/// <summary>
/// The set of registered bookies, kept current by watching <c>bookies/available/</c> (watch first, then list, so no
/// change is missed). Registrations are lease-bound: a bookie that dies disappears when its lease expires.
/// </summary>
public sealed class MetadataBookieRegistry : IBookieRegistry, IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _changedGate = new();
    private ImmutableSortedSet<string> _bookies = ImmutableSortedSet<string>.Empty.WithComparer(StringComparer.Ordinal);
    private Task _loop = Task.CompletedTask;
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
        var watch = await store.WatchAsync(BookieKeys.AvailablePrefix, isPrefix: true, cancellationToken);
        long revision = await registry.ReloadAsync(cancellationToken);
        registry._loop = registry.WatchLoopAsync(watch, revision);
        return registry;
    }

    /// <inheritdoc />
    public IReadOnlyCollection<string> WritableBookies => Volatile.Read(ref _bookies);

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
        var listing = await _store.ListAsync(BookieKeys.AvailablePrefix, cancellationToken);
        var set = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var item in listing)
        {
            set.Add(item.Key[BookieKeys.AvailablePrefix.Length..]);
        }

        Publish(set.ToImmutable());
        return listing.Revision;
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

                        string bookie = change.Key[BookieKeys.AvailablePrefix.Length..];
                        var current = Volatile.Read(ref _bookies);
                        Publish(change.Type == WatchEventType.Put ? current.Add(bookie) : current.Remove(bookie));
                    }
                }

                return;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is Protocol.Errors.DlException or IOException)
            {
                _logger.LogWarning("Watching bookie registrations failed ({Error}); listing and watching again", e.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), _stopping.Token);
                    watch = await _store.WatchAsync(BookieKeys.AvailablePrefix, isPrefix: true, _stopping.Token);
                    listedRevision = await ReloadAsync(_stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception retry) when (retry is Protocol.Errors.DlException or IOException)
                {
                    _logger.LogWarning("Re-watching bookie registrations failed: {Error}", retry.Message);
                }
            }
        }
    }

    private void Publish(ImmutableSortedSet<string> bookies)
    {
        Volatile.Write(ref _bookies, bookies);
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
