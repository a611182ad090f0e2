using System.Text.Json;
using DistributedLog.Bookie.Wire;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Registration;

/// <summary>
/// Registers a running bookie in the metadata store: validates (or creates) its cookie, then publishes
/// <c>bookies/available/&lt;id&gt;</c> under a lease it keeps alive. If the bookie dies, the lease expires and clients stop
/// placing new ledgers on it. If the lease is lost while the bookie lives, it registers again.
/// </summary>
public sealed class BookieRegistration : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly Bookie _bookie;
    private readonly ILogger _logger;
    private readonly TimeSpan _ttl;
    private readonly CancellationTokenSource _stopping = new();
    private ILease? _lease;
    private Task _loop = Task.CompletedTask;

    private BookieRegistration(IMetadataStore store, Bookie bookie, TimeSpan ttl, ILogger logger)
    {
        _store = store;
        _bookie = bookie;
        _ttl = ttl;
        _logger = logger;
    }

    /// <summary>Checks the cookie and registers the bookie.</summary>
    /// <exception cref="DlException"><c>MetadataException</c> when the cookie does not match (e.g. a wiped disk).</exception>
    public static async Task<BookieRegistration> StartAsync(IMetadataStore store, Bookie bookie, string journalDirectory, string ledgerDirectory,
        TimeSpan ttl, ILogger logger, CancellationToken cancellationToken = default)
    {
        await ValidateCookieAsync(store, bookie.Id, journalDirectory, ledgerDirectory, logger, cancellationToken);
        var registration = new BookieRegistration(store, bookie, ttl, logger);
        await registration.RegisterAsync(cancellationToken);
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
            if (!result.Succeeded)
            {
                throw new DlException(StatusCode.MetadataException, $"Bookie {bookieId}: another bookie published a cookie under this id at the same time.");
            }
        }
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var lease = await _store.GrantLeaseAsync(_ttl, cancellationToken);
        var info = new BookieRegistrationInfo(_bookie.Id, _bookie.State == BookieState.Writable ? "writable" : "readonly", DateTimeOffset.UtcNow);
        await _store.PutAsync(BookieKeys.Available(_bookie.Id), JsonSerializer.SerializeToUtf8Bytes(info, BookieCookieJson.Default.BookieRegistrationInfo),
            lease.Id, cancellationToken);
        var old = Interlocked.Exchange(ref _lease, lease);
        if (old is not null)
        {
            await old.DisposeAsync();
        }

        _logger.LogInformation("Bookie {Bookie} registered (lease {Lease}, ttl {Ttl})", _bookie.Id, lease.Id, lease.Ttl);
    }

    private async Task KeepRegisteredAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, _lease!.Lost);
                await Task.Delay(Timeout.Infinite, linked.Token);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                _logger.LogWarning("Bookie {Bookie} lost its registration lease; registering again", _bookie.Id);
                while (!_stopping.IsCancellationRequested)
                {
                    try
                    {
                        await RegisterAsync(_stopping.Token);
                        break;
                    }
                    catch (DlException e)
                    {
                        _logger.LogWarning("Registering bookie {Bookie} failed: {Error}; retrying", _bookie.Id, e.Message);
                        await Task.Delay(TimeSpan.FromSeconds(1), _stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Unregisters (revokes the lease, so clients see the bookie gone at once).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _loop;
        if (_lease is not null)
        {
            try
            {
                await _lease.RevokeAsync();
            }
            catch (DlException e)
            {
                _logger.LogWarning("Unregistering bookie {Bookie} failed: {Error}", _bookie.Id, e.Message);
            }

            await _lease.DisposeAsync();
        }

        _stopping.Dispose();
    }
}
