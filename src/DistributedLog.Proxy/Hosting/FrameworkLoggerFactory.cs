using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Hosting;

/// <summary>
/// The logger factory the web server and gRPC framework log through: their categories (<c>Microsoft.AspNetCore</c>,
/// <c>Grpc</c>) log warnings and errors only. Below that they log each client's broken or malformed call with its
/// exception and stack trace (for example "Error reading message." at information level), which a server must not do
/// for a client's mistake; the proxy logs one line for those itself. Other categories pass through unchanged.
/// </summary>
internal sealed class FrameworkLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return categoryName.StartsWith("Grpc", StringComparison.Ordinal) || categoryName.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
            ? new WarningsOnly(logger)
            : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The caller owns the inner factory.
    }

    private sealed class WarningsOnly(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
