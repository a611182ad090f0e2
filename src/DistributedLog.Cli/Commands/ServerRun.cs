using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Cli.Commands;

/// <summary>What the server commands share: console logging and running until SIGINT/SIGTERM.</summary>
internal static class ServerRun
{
    public static ILoggerFactory Logging(LogLevel level) => LoggerFactory.Create(b => b
        .SetMinimumLevel(level)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddFilter("DistributedLog", level)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("Grpc", LogLevel.Warning));

    /// <summary>Whether <paramref name="commandName"/> names a server command, which handles its own stop signals.</summary>
    public static bool IsServerCommand(string commandName) => commandName is "bookie" or "proxy" or "sandbox";

    /// <summary>
    /// A token cancelled by SIGTERM, SIGINT or <paramref name="cancellationToken"/>. The handlers never throw (a signal
    /// that arrives while or after the server stops is ignored) and keep the runtime from terminating the process, so the
    /// server stops cleanly and exits 0. Dispose the registration before the token source.
    /// </summary>
    public static (CancellationTokenSource Stop, IDisposable Registration) StopSignal(CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already stopped.
            }
            catch (AggregateException)
            {
                // A callback registered on the token failed; stopping goes on regardless.
            }
        }

        var registrations = new Registrations(stop.Token,
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        return (stop, registrations);
    }

    /// <summary>
    /// The signal registrations. Once a stop was requested they stay in place until the process exits, so a repeated
    /// SIGTERM during the last moments of the shutdown is ignored instead of killing the process with 143.
    /// </summary>
    private sealed class Registrations(CancellationToken stopping, params IDisposable[] registrations) : IDisposable
    {
        public void Dispose()
        {
            if (stopping.IsCancellationRequested)
            {
                return;
            }

            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }

    /// <summary>
    /// Prints the one line that says the server serves: <paramref name="text"/> (which contains "ready"), or with
    /// <paramref name="json"/> an object <c>{"status": "ready", …}</c> with the fields <paramref name="fields"/> writes.
    /// </summary>
    public static void PrintReady(bool json, string text, Action<System.Text.Json.Utf8JsonWriter> fields)
    {
        // The effective configuration goes to stderr once the server started (so a refused argument stays one line).
        ServerConfiguration.PrintRemembered(Console.Error);
        if (!json)
        {
            Console.WriteLine(text);
            return;
        }

        using var stdout = Console.OpenStandardOutput();
        ClientOptions.WriteJsonLine(stdout, w =>
        {
            w.WriteString("status", "ready");
            fields(w);
        });
    }

    /// <summary>Waits until the stop token fires.</summary>
    public static async Task WaitAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
