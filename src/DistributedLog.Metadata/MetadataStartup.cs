using Microsoft.Extensions.Logging;

namespace DistributedLog.Metadata;

/// <summary>
/// How a server waits for its metadata store at start: a step that needs the store (connecting, checking a cookie,
/// registering) is retried while the store is unavailable (<see cref="MetadataStoreException.IsRetryable"/>), with
/// back-off (0.5 s doubling to <see cref="MaxBackoff"/>) and one warning per failed attempt, never a stack trace.
/// Errors that retrying cannot fix (a rejected request, a cookie mismatch) end the wait at once; so does cancellation.
/// </summary>
public static partial class MetadataStartup
{
    /// <summary>The first wait between attempts.</summary>
    public static TimeSpan FirstBackoff { get; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between attempts.</summary>
    public static TimeSpan MaxBackoff { get; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (1-based) of anything that waits for the metadata store: doubling
    /// from <see cref="FirstBackoff"/> up to <paramref name="max"/>. Start-up and re-registration loops share it.
    /// </summary>
    public static TimeSpan Backoff(int attempt, TimeSpan max) =>
        TimeSpan.FromTicks(Math.Min(max.Ticks, FirstBackoff.Ticks << Math.Clamp(attempt - 1, 0, 20)));

    /// <summary>Runs <paramref name="step"/> until it succeeds or fails with an error that waiting cannot fix.</summary>
    /// <typeparam name="T">What the step returns.</typeparam>
    /// <param name="what">What the step does, for the log (e.g. <c>Connecting to the metadata store etcd://…</c>).</param>
    /// <param name="step">The step; it is given <paramref name="cancellationToken"/>.</param>
    /// <param name="logger">Where the warning for each failed attempt goes.</param>
    /// <param name="timeProvider">The clock for the back-off; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="cancellationToken">Stops waiting (the server is told to stop): <see cref="OperationCanceledException"/>.</param>
    /// <returns>What the step returned.</returns>
    public static async Task<T> WaitAsync<T>(string what, Func<CancellationToken, Task<T>> step, ILogger logger,
        TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(logger);
        timeProvider ??= TimeProvider.System;
        for (int attempt = 1; ; attempt++)
        {
            TimeSpan backoff = Backoff(attempt, MaxBackoff);
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                T result = await step(cancellationToken);
                if (attempt > 1)
                    LogAvailable(logger, what, attempt);
                return result;
            }
            catch (MetadataStoreException e) when (e.IsRetryable && !cancellationToken.IsCancellationRequested)
            {
                LogRetry(logger, what, attempt, e.Message, backoff.TotalSeconds);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                // A deadline inside the step that was not translated: the store did not answer in time.
                LogRetry(logger, what, attempt, e.Message, backoff.TotalSeconds);
            }
            await Task.Delay(backoff, timeProvider, cancellationToken);
        }
    }

    /// <summary>Runs <paramref name="step"/> like <see cref="WaitAsync{T}"/>, for a step that returns nothing.</summary>
    /// <param name="what">What the step does, for the log.</param>
    /// <param name="step">The step.</param>
    /// <param name="logger">Where the warnings go.</param>
    /// <param name="timeProvider">The clock for the back-off.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the step succeeded.</returns>
    public static Task WaitAsync(string what, Func<CancellationToken, Task> step, ILogger logger,
        TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(step);
        return WaitAsync(what, async ct =>
        {
            await step(ct);
            return true;
        }, logger, timeProvider, cancellationToken);
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning,
        Message = "{What}: the metadata store is not available (attempt {Attempt}: {Error}); retrying in {DelaySeconds:0.#} s")]
    private static partial void LogRetry(ILogger logger, string what, int attempt, string error, double delaySeconds);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "{What}: the metadata store answered (attempt {Attempt})")]
    private static partial void LogAvailable(ILogger logger, string what, int attempt);
}
