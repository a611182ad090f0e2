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

    /// <summary>A token cancelled by SIGTERM or by <paramref name="cancellationToken"/> (SIGINT).</summary>
    public static (CancellationTokenSource Stop, IDisposable Registration) StopSignal(CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already stopping.
            }
        });
        return (stop, sigterm);
    }

    /// <summary>
    /// Prints the one line that says the server serves: <paramref name="text"/> (which contains "ready"), or with
    /// <paramref name="json"/> an object <c>{"status": "ready", …}</c> with the fields <paramref name="fields"/> writes.
    /// </summary>
    public static void PrintReady(bool json, string text, Action<System.Text.Json.Utf8JsonWriter> fields)
    {
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
