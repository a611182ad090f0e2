using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DistributedLog.Testing;

/// <summary>
/// Logs of in-process servers for diagnosing a test: when <c>DLOG_TEST_LOG</c> names a file, every in-process proxy and
/// namespace logs there at debug level (timestamped, one line per event); otherwise nothing is logged.
/// </summary>
public static class DiagnosticLog
{
    private static readonly Lazy<ILoggerFactory> s_factory = new(Create);

    /// <summary>The factory to hand to servers started by a test.</summary>
    public static ILoggerFactory Factory => s_factory.Value;

    private static ILoggerFactory Create()
    {
        string? path = Environment.GetEnvironmentVariable("DLOG_TEST_LOG");
        if (string.IsNullOrEmpty(path))
        {
            return NullLoggerFactory.Instance;
        }

        var writer = new StreamWriter(path, append: true) { AutoFlush = true };
        return LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Debug).AddProvider(new FileLoggerProvider(writer)));
    }

    private sealed class FileLoggerProvider(StreamWriter writer) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new FileLogger(writer, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class FileLogger(StreamWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string line = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}";
            lock (writer)
            {
                writer.WriteLine(line);
            }
        }
    }
}
