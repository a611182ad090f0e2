using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DistributedLog.Bookie.Registration;
using DistributedLog.Cli.Commands;
using DistributedLog.Metadata;

namespace DistributedLog.Cli.Admin;

/// <summary>One bookie as <c>dlog admin bookies</c> shows it.</summary>
/// <param name="Id">Bookie id (<c>host:port</c>).</param>
/// <param name="State"><c>writable</c>, <c>readonly</c>, <c>draining</c> or <c>lost</c> (a cookie but no registration).</param>
/// <param name="Rack">Its rack from the registration, or null.</param>
/// <param name="FreeDiskBytes">Free disk it last published, or null.</param>
/// <param name="LedgerCount">Ledgers it last published, or null.</param>
/// <param name="Registered">Whether it is registered (alive) now.</param>
/// <param name="HasCookie">Whether it has a cookie in the metadata store.</param>
/// <param name="Draining">Whether it is marked draining (being decommissioned).</param>
/// <param name="StartedAt">When the registered process started, or null.</param>
internal sealed record BookieSummary(string Id, string State, string? Rack, long? FreeDiskBytes, int? LedgerCount, bool Registered, bool HasCookie,
    bool Draining, DateTimeOffset? StartedAt)
{
    /// <summary>The state of a bookie that has a cookie but no registration: it stopped or died.</summary>
    public const string Lost = "lost";

    /// <summary>The state of a registered bookie marked for decommissioning.</summary>
    public const string DrainingState = "draining";
}

/// <summary><c>dlog admin bookies</c>: every known bookie, registered or lost, with its state, rack, free disk and ledger count.</summary>
internal static class AdminBookieCommands
{
    /// <summary>Prefix of the draining markers (<c>bookies/draining/&lt;id&gt;</c>, written by <c>dlog admin decommission</c>).</summary>
    public const string DrainingPrefix = DistributedLog.Ledgers.Replication.UnderReplicationStore.DrainingPrefix;

    public static Command Bookies()
    {
        var options = new AdminOptions();
        var command = options.Command("bookies",
            "List every known bookie: registered ones and ones with a cookie but no registration (lost), with state, rack, free disk and ledger count.");
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            await using var store = await options.OpenStoreAsync(result, ct);
            var bookies = await ListAsync(store, ct);
            if (result.GetValue(options.Json))
            {
                AdminOptions.WriteJsonValue(w => WriteJson(w, bookies));
                return 0;
            }

            Console.WriteLine($"{"BOOKIE",-24} {"STATE",-9} {"RACK",-32} {"FREE DISK",10} {"LEDGERS",8}");
            foreach (var b in bookies)
            {
                Console.WriteLine($"{b.Id,-24} {b.State,-9} {b.Rack ?? "-",-32} {FormatBytes(b.FreeDiskBytes),10} " +
                    $"{(b.LedgerCount is int count ? count.ToString(CultureInfo.InvariantCulture) : "-"),8}");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Every bookie with a registration or a cookie, in id order.</summary>
    public static async Task<IReadOnlyList<BookieSummary>> ListAsync(IMetadataStore store, CancellationToken cancellationToken)
    {
        var available = await store.ListAsync(BookieKeys.AvailablePrefix, cancellationToken);
        var cookies = await store.ListAsync(BookieKeys.CookiesPrefix, cancellationToken);
        var draining = await store.ListAsync(DrainingPrefix, cancellationToken);
        var registrations = available.ToDictionary(v => v.Key[BookieKeys.AvailablePrefix.Length..], v => v.Value, StringComparer.Ordinal);
        var withCookie = cookies.Select(v => v.Key[BookieKeys.CookiesPrefix.Length..]).ToHashSet(StringComparer.Ordinal);
        var drainingIds = draining.Select(v => v.Key[DrainingPrefix.Length..]).ToHashSet(StringComparer.Ordinal);

        var summaries = new List<BookieSummary>();
        foreach (string id in registrations.Keys.Union(withCookie).Order(StringComparer.Ordinal))
        {
            bool isDraining = drainingIds.Contains(id);
            if (!registrations.TryGetValue(id, out var value))
            {
                summaries.Add(new BookieSummary(id, BookieSummary.Lost, null, null, null, false, true, isDraining, null));
                continue;
            }

            var registration = Registration.Parse(value.Span);
            string state = isDraining ? BookieSummary.DrainingState : registration.State;
            summaries.Add(new BookieSummary(id, state, registration.Rack, registration.FreeDiskBytes, registration.LedgerCount, true, withCookie.Contains(id),
                isDraining, registration.StartedAt));
        }

        return summaries;
    }

    private static void WriteJson(Utf8JsonWriter w, IReadOnlyList<BookieSummary> bookies)
    {
        w.WriteStartArray();
        foreach (var b in bookies)
        {
            w.WriteStartObject();
            w.WriteString("id", b.Id);
            w.WriteString("state", b.State);
            WriteNullable(w, "rack", b.Rack);
            WriteNullable(w, "freeDiskBytes", b.FreeDiskBytes);
            WriteNullable(w, "ledgerCount", b.LedgerCount);
            w.WriteBoolean("registered", b.Registered);
            w.WriteBoolean("cookie", b.HasCookie);
            w.WriteBoolean("draining", b.Draining);
            if (b.StartedAt is { } started)
            {
                w.WriteString("startedAt", started);
            }
            else
            {
                w.WriteNull("startedAt");
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is long number)
        {
            w.WriteNumber(name, number);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>Bytes in binary units (<c>12.3 GiB</c>), or <c>-</c> when unknown.</summary>
    internal static string FormatBytes(long? bytes)
    {
        if (bytes is not long value || value < 0)
        {
            return "-";
        }

        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double scaled = value;
        int unit = 0;
        while (scaled >= 1024 && unit < units.Length - 1)
        {
            scaled /= 1024;
            unit++;
        }

        return unit == 0 ? $"{value} B" : string.Create(CultureInfo.InvariantCulture, $"{scaled:0.0} {units[unit]}");
    }

    /// <summary>
    /// The fields of a registration (<c>bookies/available/&lt;id&gt;</c>) the listing shows, read leniently: a field a
    /// bookie does not publish (an older one, or <c>rack</c> before placement) is null; an unreadable value counts as a
    /// writable bookie, as the bookie registry treats it.
    /// </summary>
    private readonly record struct Registration(string State, string? Rack, long? FreeDiskBytes, int? LedgerCount, DateTimeOffset? StartedAt)
    {
        public static Registration Parse(ReadOnlySpan<byte> value)
        {
            try
            {
                var reader = new Utf8JsonReader(value);
                using var json = JsonDocument.ParseValue(ref reader);
                var root = json.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return new Registration(BookieRegistrationInfo.Writable, null, null, null, null);
                }

                string state = String(root, "state") == BookieRegistrationInfo.ReadOnly ? BookieRegistrationInfo.ReadOnly : BookieRegistrationInfo.Writable;
                long? free = root.TryGetProperty("freeDiskBytes", out var f) && f.ValueKind == JsonValueKind.Number && f.TryGetInt64(out long freeBytes) ? freeBytes : null;
                int? ledgers = root.TryGetProperty("ledgerCount", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out int ledgerCount) ? ledgerCount : null;
                DateTimeOffset? started = root.TryGetProperty("startedAt", out var s) && s.ValueKind == JsonValueKind.String && s.TryGetDateTimeOffset(out var at)
                    ? at
                    : null;
                return new Registration(state, String(root, "rack"), free, ledgers, started);
            }
            catch (JsonException)
            {
                return new Registration(BookieRegistrationInfo.Writable, null, null, null, null);
            }
        }

        private static string? String(JsonElement root, string name) =>
            root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }
}
