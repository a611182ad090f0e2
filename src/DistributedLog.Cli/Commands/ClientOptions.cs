using System.CommandLine;
using System.Text.Json;
using DistributedLog.Client;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Commands;

/// <summary>Options shared by the client commands (<c>--endpoint</c>, <c>--json</c>) and their output helpers.</summary>
internal static class ClientOptions
{
    public const string DefaultEndpoint = "http://127.0.0.1:7000";

    public static Option<string> Endpoint() => new("--endpoint")
    {
        Description = $"Write proxy to talk to (default: $DLOG_ENDPOINT, else {DefaultEndpoint}).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DLOG_ENDPOINT") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultEndpoint,
    };

    public static Option<bool> Json() => new("--json") { Description = "Print machine-readable JSON." };

    public static Argument<string> Log() => new("log") { Description = "The log's name (e.g. orders or orders/eu)." };

    /// <summary>A client of the proxy at <paramref name="endpoint"/> (and the proxies it knows).</summary>
    public static DistributedLogClient Connect(string endpoint)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"--endpoint '{endpoint}' is not an http:// URL of a proxy (for example {DefaultEndpoint}).");
        }

        return DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = [endpoint],
            RetryBudget = TimeSpan.FromSeconds(15),
            FailFastWhenNoProxyReachable = true,
            CallTimeout = TimeSpan.FromSeconds(30),
        });
    }

    public static Dlsn ParseDlsn(string text, string option) =>
        Dlsn.TryParse(text, out var dlsn) && dlsn.LogSegmentSequenceNo >= 0 && dlsn.EntryId >= 0 && dlsn.SlotId >= 0
            ? dlsn
            : throw new ArgumentException($"{option} '{text}' is not a DLSN (expected lssn:entry:slot, e.g. 1:0:0).");

    /// <summary>Writes one JSON object built by <paramref name="write"/> as a line to stdout, flushed.</summary>
    public static void WriteJsonLine(Stream stdout, Action<Utf8JsonWriter> write, bool flush = true)
    {
        using (var writer = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = false }))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
        if (flush)
        {
            stdout.Flush();
        }
    }

    /// <summary>Whether progress may be drawn: stdout is a terminal and no JSON was asked for.</summary>
    public static bool ShowProgress(bool json) => !json && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
}
