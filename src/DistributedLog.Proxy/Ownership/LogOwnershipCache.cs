using System.Collections.Concurrent;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Proxy.Limits;
using DistributedLog.Writers;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Ownership;

/// <summary>
/// The logs this proxy owns (DistributedLog's stream ownership cache). A log is acquired on its first request: the
/// proxy opens its writer, which takes the log's lease-bound lock with this proxy's endpoint in it and recovers what a
/// previous owner left. A log whose lock another proxy holds is answered with FOUND naming that proxy. A writer that
/// fails is released (aborted) at once so the log can move; idle logs are released (closed) after a while.
/// </summary>
internal sealed class LogOwnershipCache : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<OwnedLog>>> _logs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _releasing = new(StringComparer.Ordinal);
    private readonly DistributedLogNamespace _namespace;
    private readonly ProxyOptions _options;
    private readonly ProxyMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _idleSweeper;
    private readonly Task _retention;
    private int _disposed;

    public LogOwnershipCache(DistributedLogNamespace ns, ProxyOptions options, string endpoint, ProxyMetrics metrics, TimeProvider time, ILogger logger)
    {
        _namespace = ns;
        _options = options;
        Endpoint = endpoint;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _idleSweeper = SweepIdleAsync();
        Retention = new LogRetention(ns, options, OwnedLogNames, metrics, time, logger);
        _retention = Retention.RunAsync(_stopping.Token);
    }

    /// <summary>The retention rounds over the owned logs (running when the policy is enabled).</summary>
    public LogRetention Retention { get; }

    /// <summary>The names of the logs owned now (acquired, not being released).</summary>
    public IReadOnlyList<string> OwnedLogNames() =>
        [.. _logs.Where(pair => pair.Value.IsValueCreated && pair.Value.Value.IsCompletedSuccessfully).Select(pair => pair.Key)];

    /// <summary>This proxy's endpoint, as written into the locks it holds.</summary>
    public string Endpoint { get; }

    public int Count => _logs.Count;

    /// <summary>Whether the proxy is draining: it acquires no new logs.</summary>
    public bool IsDraining => _stopping.IsCancellationRequested;

    /// <summary>The owned log, acquiring it if no one owns it.</summary>
    /// <exception cref="OwnershipMovedException">Another proxy owns the log.</exception>
    /// <exception cref="DlException">TOO_MANY_STREAMS when this proxy holds its maximum; SERVICE_UNAVAILABLE while draining; the writer's open errors (log not found, invalid name, …).</exception>
    public async ValueTask<OwnedLog> AcquireAsync(string log, CancellationToken cancellationToken)
    {
        if (_logs.TryGetValue(log, out var existing) && existing.Value.IsCompletedSuccessfully)
        {
            var owned = existing.Value.Result;
            owned.Touch();
            return owned;
        }

        if (IsDraining)
        {
            throw new DlException(StatusCode.ServiceUnavailable, $"Proxy {Endpoint} is shutting down; send the request to another proxy.");
        }

        Naming.LogName.Validate(log);
        if (existing is null && _logs.Count >= _options.MaxLogs)
        {
            throw new DlException(StatusCode.TooManyStreams,
                $"Proxy {Endpoint} already owns its maximum of {_options.MaxLogs} logs; send the request for '{log}' to another proxy.");
        }

        var entry = _logs.GetOrAdd(log, static (name, self) => new Lazy<Task<OwnedLog>>(() => self.OpenAsync(name)), this);
        try
        {
            var owned = await entry.Value.WaitAsync(cancellationToken);
            owned.Touch();
            return owned;
        }
        catch (Exception) when (entry.Value.IsFaulted || entry.Value.IsCanceled)
        {
            _logs.TryRemove(new KeyValuePair<string, Lazy<Task<OwnedLog>>>(log, entry));
            throw;
        }
    }

    /// <summary>The owned log, if this proxy holds it now (never acquires).</summary>
    public OwnedLog? TryGet(string log) =>
        _logs.TryGetValue(log, out var entry) && entry.Value.IsCompletedSuccessfully ? entry.Value.Result : null;

    /// <summary>Closes the log's writer (flush, complete the segment) and releases its lock; nothing when not owned.</summary>
    public Task ReleaseAsync(string log, string reason) => RemoveAsync(log, abort: false, reason);

    /// <summary>After a write error: aborts the writer (its segment is left for the next owner's recovery) and releases the lock.</summary>
    public Task ReleaseAfterFailureAsync(OwnedLog owned, Exception error)
    {
        _logger.LogWarning("Releasing log {Log} after a write error: {Error}", owned.Name, error.Message);
        return RemoveAsync(owned.Name, abort: true, "failure", owned);
    }

    /// <summary>Stops acquiring logs and releases every owned one (closing their writers), so other proxies can take them.</summary>
    public async Task DrainAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync();
        }

        await Task.WhenAll(_logs.Keys.Select(log => RemoveAsync(log, abort: false, "drained")));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await DrainAsync();
        try
        {
            await _idleSweeper;
        }
        catch (OperationCanceledException)
        {
        }

        await _retention;

        _stopping.Dispose();
    }

    private async Task<OwnedLog> OpenAsync(string log)
    {
        if (_releasing.TryGetValue(log, out var releasing))
        {
            // The log was just released (after a writer failure, say): its lock goes first, else this proxy would find
            // its own lock and answer "still locked".
            await releasing;
        }

        AsyncLogWriter writer;
        try
        {
            writer = await _namespace.OpenLog(log).OpenWriterAsync(_options.Writer with
            {
                LockTimeout = TimeSpan.Zero,
                OwnershipTtl = _options.OwnershipTtl,
                OwnerEndpoint = Endpoint,
            }, _stopping.Token);
        }
        catch (LockingException e) when (e.OwnerEndpoint is { Length: > 0 } owner && owner != Endpoint)
        {
            _metrics.Redirected();
            throw new OwnershipMovedException($"Log '{log}' is owned by proxy {owner}.", owner);
        }
        catch (LockingException e) when (e.OwnerEndpoint == Endpoint)
        {
            // A lock of this endpoint from an earlier life of this proxy (restarted before its lease expired).
            throw new DlException(StatusCode.StreamNotReady,
                $"Log '{log}' is still locked by a previous run of this proxy ({Endpoint}); it frees when that lease expires.", e);
        }

        var limiter = new RateLimiter(_options.PerLogLimits, "per-log", _metrics, _time);
        _logger.LogInformation("Acquired log {Log}", log);
        return new OwnedLog(log, writer, limiter, _time);
    }

    private async Task RemoveAsync(string log, bool abort, string reason, OwnedLog? only = null)
    {
        if (!_logs.TryGetValue(log, out var entry))
        {
            return;
        }

        if (only is not null && (!entry.Value.IsCompletedSuccessfully || !ReferenceEquals(entry.Value.Result, only)))
        {
            return;
        }

        if (!_logs.TryRemove(new KeyValuePair<string, Lazy<Task<OwnedLog>>>(log, entry)))
        {
            return;
        }

        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _releasing[log] = released.Task;
        try
        {
            await CloseWriterAsync(log, entry, abort, reason);
        }
        finally
        {
            _releasing.TryRemove(new KeyValuePair<string, Task>(log, released.Task));
            released.TrySetResult();
        }
    }

    private async Task CloseWriterAsync(string log, Lazy<Task<OwnedLog>> entry, bool abort, string reason)
    {
        OwnedLog owned;
        try
        {
            owned = await entry.Value;
        }
        catch (Exception)
        {
            return; // never acquired
        }

        _metrics.Released(reason);
        try
        {
            if (abort || owned.Writer.Failure is not null)
            {
                await owned.Writer.AbortAsync();
            }
            else
            {
                await owned.Writer.CloseAsync(CancellationToken.None);
            }

            _logger.LogInformation("Released log {Log} ({Reason})", log, reason);
        }
        catch (Exception e)
        {
            _logger.LogWarning("Releasing log {Log} ({Reason}) failed: {Error}; its lock frees when the lease expires", log, reason, e.Message);
            try
            {
                await owned.Writer.AbortAsync();
            }
            catch (Exception)
            {
                // The lease expiry frees the lock.
            }
        }
    }

    private async Task SweepIdleAsync()
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, _options.IdleLogTimeout.Ticks / 4));
        using var timer = new PeriodicTimer(period, _time);
        while (await timer.WaitForNextTickAsync(_stopping.Token))
        {
            foreach (var (log, entry) in _logs)
            {
                if (entry.Value.IsCompletedSuccessfully && _time.GetElapsedTime(entry.Value.Result.LastUsed) > _options.IdleLogTimeout)
                {
                    await RemoveAsync(log, abort: false, "idle", entry.Value.Result);
                }
            }
        }
    }
}
