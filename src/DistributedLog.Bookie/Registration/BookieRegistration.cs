using System.Diagnostics;
using System.Text.Json;
using DistributedLog.Bookie.Wire;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Registration;

/// <summary>
/// Registers a running bookie in the metadata store: validates (or creates) its cookie, then publishes
/// <c>bookies/available/&lt;id&gt;</c> (a <see cref="BookieRegistrationInfo"/> carrying its state, writable or read-only)
/// under a lease it keeps alive. If the bookie dies, the lease expires and clients stop placing new ledgers on it. If the
/// lease is lost while the bookie lives, it registers again, retrying until it succeeds; each change of its state is
/// published, so clients place new ledgers only on writable bookies. The registration also carries the bookie's free disk
/// and ledger count (for <c>dlog admin bookies</c>); they are republished after a disk check only when they changed
/// meaningfully (<see cref="UsageChanged"/>) and at most every <see cref="UsageInterval"/>, to keep the store's write load low.
/// </summary>
public sealed class BookieRegistration : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly Bookie _bookie;
    private readonly ILogger _logger;
    private readonly TimeSpan _ttl;
    private readonly string? _rack;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _stateChanged = new(0, 1);
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private ILease? _lease;
    private string? _published;
    private bool _decommissioned;
    private (long FreeDiskBytes, int LedgerCount) _publishedUsage = (-1, -1);
    private long _publishedAt;
    private Task _loop = Task.CompletedTask;

    private BookieRegistration(IMetadataStore store, Bookie bookie, TimeSpan ttl, string? rack, ILogger logger)
    {
        _store = store;
        _bookie = bookie;
        _ttl = ttl;
        _rack = rack;
        _logger = logger;
        _bookie.StateChanged += OnStateChanged;
        _bookie.DiskChecked += OnDiskChecked;
    }

    /// <summary>Least time between two publications made only because free disk or the ledger count changed.</summary>
    public static readonly TimeSpan UsageInterval = TimeSpan.FromSeconds(5);

    /// <summary>Checks the cookie and registers the bookie (in <paramref name="rack"/>, <c>/REGION/RACK</c>, when given).</summary>
    /// <exception cref="DlException"><c>MetadataException</c> when the cookie does not match (e.g. a wiped disk).</exception>
    public static async Task<BookieRegistration> StartAsync(IMetadataStore store, Bookie bookie, string journalDirectory, string ledgerDirectory,
        TimeSpan ttl, ILogger logger, CancellationToken cancellationToken = default, string? rack = null)
    {
        await ValidateCookieAsync(store, bookie.Id, journalDirectory, ledgerDirectory, logger, cancellationToken);
        var registration = new BookieRegistration(store, bookie, ttl, rack, logger);
        try
        {
            await registration.RegisterAsync(cancellationToken);
        }
        catch
        {
            // A failed attempt (the caller may retry with a new one) must not stay subscribed to the bookie.
            bookie.StateChanged -= registration.OnStateChanged;
            bookie.DiskChecked -= registration.OnDiskChecked;
            throw;
        }

        registration._loop = registration.KeepRegisteredAsync();
        return registration;
    }

    /// <summary>
    /// Cookie check (BookKeeper's rule): local and metadata cookies must name the same instance. No cookie anywhere: a new
    /// bookie, cookies are created. A metadata cookie without a local one: the data directories were wiped or replaced —
    /// refused. A local cookie without a metadata one: the metadata was reset — the cookie is published again.
    /// </summary>
    public static async Task ValidateCookieAsync(IMetadataStore store, string bookieId, string journalDirectory, string ledgerDirectory,
        ILogger logger, CancellationToken cancellationToken)
    {
        var journalCookie = BookieCookie.ReadLocal(journalDirectory);
        var ledgerCookie = BookieCookie.ReadLocal(ledgerDirectory);
        var stored = await store.GetAsync(BookieKeys.Cookie(bookieId), cancellationToken);
        var remote = stored is null ? null : BookieCookie.Deserialize(stored.Value.Span);

        if (journalCookie is not null && ledgerCookie is not null && journalCookie.InstanceId != ledgerCookie.InstanceId)
        {
            throw new DlException(StatusCode.MetadataException,
                $"Bookie {bookieId}: the journal directory '{journalDirectory}' and ledger directory '{ledgerDirectory}' belong to different bookie instances.");
        }

        var local = journalCookie ?? ledgerCookie;
        if (remote is not null && (local is null || journalCookie is null || ledgerCookie is null))
        {
            throw new DlException(StatusCode.MetadataException,
                $"Bookie {bookieId} is registered with data (instance {remote.InstanceId}) but its directories have no cookie: the disk was wiped or replaced. " +
                "Refusing to start empty under the same id; delete the cookie from the metadata store only after its ledgers were re-replicated.");
        }

        if (remote is not null && local is not null && remote.InstanceId != local.InstanceId)
        {
            throw new DlException(StatusCode.MetadataException,
                $"Bookie {bookieId}: the cookie in its directories (instance {local.InstanceId}) does not match the registered one (instance {remote.InstanceId}).");
        }

        if (local is null)
        {
            local = new BookieCookie(bookieId, Guid.NewGuid().ToString("N"), Path.GetFullPath(journalDirectory), Path.GetFullPath(ledgerDirectory), DateTimeOffset.UtcNow);
            local.WriteLocal(journalDirectory);
            local.WriteLocal(ledgerDirectory);
            logger.LogInformation("Bookie {Bookie}: new cookie, instance {Instance}", bookieId, local.InstanceId);
        }

        if (remote is null)
        {
            var result = await store.CommitAsync(new MetadataTransaction().IfAbsent(BookieKeys.Cookie(bookieId)).Put(BookieKeys.Cookie(bookieId), local.Serialize()),
                cancellationToken);
            if (!result.Succeeded && !await IsOwnCookieAsync(store, bookieId, local, cancellationToken))
            {
                throw new DlException(StatusCode.MetadataException, $"Bookie {bookieId}: another bookie published a cookie under this id at the same time.");
            }
        }
    }

    /// <summary>Whether the published cookie is <paramref name="local"/>'s: an earlier attempt whose answer was lost (etcd
    /// stalled) may have published it, and the retry then finds it present.</summary>
    private static async Task<bool> IsOwnCookieAsync(IMetadataStore store, string bookieId, BookieCookie local, CancellationToken cancellationToken)
    {
        var stored = await store.GetAsync(BookieKeys.Cookie(bookieId), cancellationToken);
        return stored is not null && BookieCookie.Deserialize(stored.Value.Span).InstanceId == local.InstanceId;
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var lease = await _store.GrantLeaseAsync(_ttl, cancellationToken);
        try
        {
            await PublishAsync(lease, cancellationToken);
        }
        catch
        {
            // Stops its keep-alive; the lease expires by itself (revoking needs the store that just failed).
            await lease.DisposeAsync();
            throw;
        }

        var old = Interlocked.Exchange(ref _lease, lease);
        if (old is not null)
        {
            await old.DisposeAsync();
        }

        _logger.LogInformation("Bookie {Bookie} registered as {State} (lease {Lease}, ttl {Ttl})", _bookie.Id, _published, lease.Id, lease.Ttl);
    }

    /// <summary>Writes the registration (with the bookie's current state) under <paramref name="lease"/>.</summary>
    private async Task PublishAsync(ILease lease, CancellationToken cancellationToken)
    {
        string state = _bookie.State == BookieState.Writable ? BookieRegistrationInfo.Writable : BookieRegistrationInfo.ReadOnly;
        var usage = CurrentUsage;
        var info = new BookieRegistrationInfo(_bookie.Id, state, _startedAt)
        {
            Rack = _rack,
            FreeDiskBytes = usage.FreeDiskBytes < 0 ? null : usage.FreeDiskBytes,
            LedgerCount = usage.LedgerCount,
        };
        byte[] value = JsonSerializer.SerializeToUtf8Bytes(info, BookieRegistrationJson.Default.BookieRegistrationInfo);
        string key = BookieKeys.Available(_bookie.Id);
        // A decommissioned bookie (`dlog admin decommission`: its cookie removed, a draining mark left) does not
        // register again while its process keeps running: its copies moved elsewhere and the cluster forgot it.
        var published = await _store.CommitAsync(new MetadataTransaction().IfExists(BookieKeys.Cookie(_bookie.Id)).Put(key, value, lease.Id), cancellationToken);
        if (!published.Succeeded)
        {
            if (await _store.GetAsync(BookieKeys.Draining(_bookie.Id), cancellationToken) is not null)
            {
                if (!_decommissioned)
                {
                    _decommissioned = true;
                    _logger.LogWarning("Bookie {Bookie} was decommissioned (its cookie is gone and it is marked draining): it no longer registers; stop this process", _bookie.Id);
                }
            }
            else
            {
                await _store.PutAsync(key, value, lease.Id, cancellationToken);
            }
        }

        _published = state;
        _publishedUsage = usage;
        Volatile.Write(ref _publishedAt, Stopwatch.GetTimestamp());
    }

    private (long FreeDiskBytes, int LedgerCount) CurrentUsage => (_bookie.FreeDiskBytes, _bookie.LedgerCount);

    /// <summary>
    /// Whether free disk or the ledger count moved enough since the last publication to publish again: any change of the
    /// ledger count, or free disk moving by at least 1% (and at least 64 MiB); never sooner than <see cref="UsageInterval"/>.
    /// </summary>
    internal static bool UsageChanged((long FreeDiskBytes, int LedgerCount) published, (long FreeDiskBytes, int LedgerCount) current, TimeSpan sincePublished)
    {
        if (sincePublished < UsageInterval)
        {
            return false;
        }

        long threshold = Math.Max(64L << 20, Math.Abs(published.FreeDiskBytes) / 100);
        return current.LedgerCount != published.LedgerCount || Math.Abs(current.FreeDiskBytes - published.FreeDiskBytes) >= threshold;
    }

    /// <summary>
    /// Keeps the registration current until disposed: publishes each change of the bookie's state (writable ↔ read-only)
    /// under the same lease, and registers again under a new lease whenever the lease is lost (etcd stalled or was
    /// unreachable for longer than the TTL). A failed attempt, whatever the error, is logged and retried with back-off
    /// (doubling from 0.5 s up to 10 s) until it succeeds.
    /// </summary>
    private async Task KeepRegisteredAsync()
    {
        bool needLease = false;
        while (!_stopping.IsCancellationRequested)
        {
            if (!needLease)
            {
                try
                {
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, _lease!.Lost);
                    await _stateChanged.WaitAsync(linked.Token);
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException)
                {
                    _logger.LogWarning("Bookie {Bookie} lost its registration lease; registering again", _bookie.Id);
                    needLease = true;
                }
            }

            for (int attempt = 1; !_stopping.IsCancellationRequested; attempt++)
            {
                try
                {
                    if (needLease || _lease!.Lost.IsCancellationRequested)
                    {
                        needLease = true;
                        await RegisterAsync(_stopping.Token);
                        needLease = false;
                    }
                    else if (CurrentState != _published)
                    {
                        await PublishAsync(_lease, _stopping.Token);
                        _logger.LogInformation("Bookie {Bookie} announced itself as {State}", _bookie.Id, _published);
                    }
                    else if (UsageChanged(_publishedUsage, CurrentUsage, Stopwatch.GetElapsedTime(Volatile.Read(ref _publishedAt))))
                    {
                        await PublishAsync(_lease, _stopping.Token);
                    }

                    break;
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    // etcd no longer knows the lease (it expired before the local estimate said so): take a new one.
                    needLease |= e is LeaseNotFoundException;
                    TimeSpan delay = RetryDelay(attempt);
                    _logger.LogWarning("{What} bookie {Bookie} failed (attempt {Attempt}: {Error}); retrying in {Delay} s",
                        needLease ? "Registering" : "Announcing the state of", _bookie.Id, attempt, e.Message, delay.TotalSeconds);
                    try
                    {
                        await Task.Delay(delay, _stopping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }

    private string CurrentState => _bookie.State == BookieState.Writable ? BookieRegistrationInfo.Writable : BookieRegistrationInfo.ReadOnly;

    /// <summary>Wait before registration attempt <paramref name="attempt"/> (from 1) is repeated: 0.5 s doubling, at most 10 s.</summary>
    internal static TimeSpan RetryDelay(int attempt) => MetadataStartup.Backoff(attempt, TimeSpan.FromSeconds(10));

    private void OnDiskChecked()
    {
        if (UsageChanged(_publishedUsage, CurrentUsage, Stopwatch.GetElapsedTime(Volatile.Read(ref _publishedAt))))
        {
            OnStateChanged();
        }
    }

    private void OnStateChanged()
    {
        if (_stateChanged.CurrentCount == 0)
        {
            try
            {
                _stateChanged.Release();
            }
            catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Unregisters (revokes the lease, so clients see the bookie gone at once).</summary>
    public async ValueTask DisposeAsync()
    {
        _bookie.StateChanged -= OnStateChanged;
        _bookie.DiskChecked -= OnDiskChecked;
        await _stopping.CancelAsync();
        await _loop;
        if (_lease is not null)
        {
            try
            {
                await _lease.RevokeAsync();
            }
            catch (Exception e) when (e is DlException or OperationCanceledException or ObjectDisposedException)
            {
                // The store is unreachable (or already closed): the lease expires by itself within its TTL.
                _logger.LogWarning("Unregistering bookie {Bookie} failed: {Error}; its registration expires within {Ttl}", _bookie.Id, e.Message, _ttl);
            }

            await _lease.DisposeAsync();
        }

        _stopping.Dispose();
        _stateChanged.Dispose();
    }
}
