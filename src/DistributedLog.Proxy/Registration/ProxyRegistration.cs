using System.Text;
using DistributedLog.Metadata;
using DistributedLog.Namespaces;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Registration;

/// <summary>
/// Announces a proxy to clients: <c>dl/&lt;ns&gt;/proxies/&lt;endpoint&gt;</c> bound to a lease, so a dead proxy
/// disappears when its lease expires. If the lease is lost (a long pause, a metadata outage) the proxy registers again.
/// </summary>
internal sealed class ProxyRegistration : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly string _key;
    private readonly byte[] _value;
    private readonly TimeSpan _ttl;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private ILease? _lease;
    private Task? _keeper;

    private ProxyRegistration(IMetadataStore store, NamespaceLayout layout, string endpoint, TimeSpan ttl, ILogger logger)
    {
        _store = store;
        _key = layout.Proxy(endpoint);
        _value = Encoding.UTF8.GetBytes(endpoint);
        _ttl = ttl;
        _logger = logger;
    }

    public static async Task<ProxyRegistration> StartAsync(IMetadataStore store, NamespaceLayout layout, string endpoint, TimeSpan ttl, ILogger logger,
        CancellationToken cancellationToken)
    {
        var registration = new ProxyRegistration(store, layout, endpoint, ttl, logger);
        await registration.RegisterAsync(cancellationToken);
        registration._keeper = registration.KeepAsync();
        return registration;
    }

    /// <summary>The endpoints of the registered proxies of a namespace.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(IMetadataStore store, NamespaceLayout layout, CancellationToken cancellationToken) =>
        [.. (await store.ListAsync(layout.ProxiesPrefix, cancellationToken)).Select(v => Encoding.UTF8.GetString(v.Value.Span)).Order(StringComparer.Ordinal)];

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var lease = await _store.GrantLeaseAsync(_ttl, cancellationToken);
        try
        {
            await _store.PutAsync(_key, _value, lease.Id, cancellationToken);
        }
        catch
        {
            // Stops its keep-alive; the lease expires by itself.
            await lease.DisposeAsync();
            throw;
        }

        _lease = lease;
    }

    /// <summary>
    /// Registers again whenever the lease is lost (etcd stalled or unreachable for longer than the TTL). A failed attempt,
    /// whatever the error, is logged and retried with back-off (doubling from 0.5 s up to 10 s) until it succeeds.
    /// </summary>
    private async Task KeepAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using (var lostOrStopped = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _lease!.Lost))
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, lostOrStopped.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _logger.LogWarning("The proxy's registration lease was lost; registering again");
            await _lease.DisposeAsync();
            for (int attempt = 1; !_stop.IsCancellationRequested; attempt++)
            {
                try
                {
                    await RegisterAsync(_stop.Token);
                    _logger.LogInformation("The proxy registered again (lease {Lease})", _lease.Id);
                    break;
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    var delay = MetadataStartup.Backoff(attempt, TimeSpan.FromSeconds(10));
                    _logger.LogWarning("Registering the proxy failed (attempt {Attempt}: {Error}); retrying in {Delay} s", attempt, e.Message, delay.TotalSeconds);
                    try
                    {
                        await Task.Delay(delay, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }

    /// <summary>Removes the registration (revoking its lease).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_keeper is not null)
        {
            await _keeper;
        }

        if (_lease is { } lease)
        {
            try
            {
                await lease.RevokeAsync();
            }
            catch (Exception e) when (e is Protocol.Errors.DlException or OperationCanceledException or ObjectDisposedException)
            {
                // Unreachable store: the lease expires by itself.
            }

            await lease.DisposeAsync();
        }

        _stop.Dispose();
    }
}
