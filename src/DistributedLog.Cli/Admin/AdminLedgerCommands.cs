using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DistributedLog.Cli.Commands;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Cli.Admin;

/// <summary>
/// <c>dlog admin ledger show | read | lac | recover ID</c>: a ledger's metadata, its entries and the DistributedLog
/// records inside them, its last add confirmed, and recovery (fence and close), through the ledger client.
/// </summary>
internal static class AdminLedgerCommands
{
    /// <summary>Default of <c>ledger read --count</c>.</summary>
    public const long DefaultReadCount = 100;

    public static Command Create() => new("ledger", "Inspect or recover one ledger.")
    {
        Show(),
        Read(),
        Lac(),
        Recover(),
    };

    private static Argument<string> LedgerId() => new("id") { Description = "The ledger id (a non-negative integer)." };

    /// <summary>Parses a ledger id argument.</summary>
    /// <exception cref="ArgumentException">Not a non-negative integer.</exception>
    internal static long ParseLedgerId(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            ? id
            : throw new ArgumentException($"'{text}' is not a ledger id (expected a non-negative integer, e.g. 12).");

    private static Command Show()
    {
        var options = new AdminOptions();
        var id = LedgerId();
        var command = options.Command("show", "Show a ledger's metadata: state, quorums, ensembles, last entry, length, custom metadata.", id);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long ledgerId = ParseLedgerId(result.GetValue(id)!);
            await using var store = await options.OpenStoreAsync(result, ct);
            var metadata = (await new MetadataLedgerStore(store).ReadAsync(ledgerId, ct) ?? throw Missing(ledgerId)).Value;
            if (result.GetValue(options.Json))
            {
                using var stdout = Console.OpenStandardOutput();
                ClientOptions.WriteJsonLine(stdout, w => WriteMetadata(w, metadata));
                return 0;
            }

            Console.WriteLine($"ledger        {metadata.LedgerId}");
            Console.WriteLine($"state         {metadata.State}");
            Console.WriteLine($"quorums       E={metadata.EnsembleSize} Qw={metadata.WriteQuorumSize} Qa={metadata.AckQuorumSize}");
            Console.WriteLine($"last entry    {(metadata.IsClosed ? metadata.LastEntryId.ToString(CultureInfo.InvariantCulture) : "- (not closed)")}");
            Console.WriteLine($"length        {(metadata.IsClosed ? metadata.Length.ToString(CultureInfo.InvariantCulture) : "-")}");
            Console.WriteLine($"created       {metadata.CreatedAt:O}");
            Console.WriteLine("ensembles");
            foreach (var ensemble in metadata.Ensembles)
            {
                Console.WriteLine($"  from entry {ensemble.FirstEntryId}: {string.Join(", ", ensemble.Bookies)}");
            }

            Console.WriteLine(metadata.CustomMetadata.Count == 0 ? "custom metadata -" : "custom metadata");
            foreach (var (key, value) in metadata.CustomMetadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {key} = {value}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Read()
    {
        var options = new AdminOptions();
        var id = LedgerId();
        var from = new Option<long>("--from") { Description = "First entry id to read.", DefaultValueFactory = _ => 0 };
        var count = new Option<long>("--count") { Description = "Most entries to read.", DefaultValueFactory = _ => DefaultReadCount };
        var command = options.Command("read",
            "Read a ledger's entries (up to its last add confirmed; no fencing) and decode the DistributedLog records inside each.", id, from, count);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long ledgerId = ParseLedgerId(result.GetValue(id)!);
            long first = result.GetValue(from);
            long most = result.GetValue(count);
            if (first < 0 || most < 1)
            {
                throw new ArgumentException($"--from must be ≥ 0 and --count ≥ 1 (got --from {first} --count {most}).");
            }

            bool json = result.GetValue(options.Json);
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var reader = await OpenAsync(ns.Ledgers.OpenLedgerNoRecoveryAsync, ledgerId, ct);
            long lac = reader.LastAddConfirmed;
            long last = Math.Min(lac, first > long.MaxValue - most ? long.MaxValue : first + most - 1);
            if (first > last && !json)
            {
                Console.WriteLine($"no entries from {first}: the last add confirmed of ledger {ledgerId} is {lac}");
            }

            using var stdout = Console.OpenStandardOutput();
            const long batch = 64;
            for (long start = first; start <= last; start += batch)
            {
                var entries = await reader.ReadAsync(start, Math.Min(last, start + batch - 1), ct);
                foreach (var entry in entries)
                {
                    if (json)
                    {
                        ClientOptions.WriteJsonLine(stdout, w => WriteEntry(w, entry), flush: false);
                    }
                    else
                    {
                        PrintEntry(entry);
                    }
                }

                await stdout.FlushAsync(ct);
            }

            return 0;
        }));
        return command;
    }

    private static Command Lac()
    {
        var options = new AdminOptions();
        var id = LedgerId();
        var command = options.Command("lac", "Print a ledger's last add confirmed (asked from its bookies while open; its last entry once closed).", id);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long ledgerId = ParseLedgerId(result.GetValue(id)!);
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var reader = await OpenAsync(ns.Ledgers.OpenLedgerNoRecoveryAsync, ledgerId, ct);
            long lac = await reader.ReadLastAddConfirmedAsync(ct);
            options.Report(result, $"ledger {ledgerId} last add confirmed {lac} ({(reader.IsClosed ? "closed" : "open")})", w =>
            {
                w.WriteNumber("ledgerId", ledgerId);
                w.WriteNumber("lastAddConfirmed", lac);
                w.WriteBoolean("closed", reader.IsClosed);
            });
            return 0;
        }));
        return command;
    }

    private static Command Recover()
    {
        var options = new AdminOptions();
        var id = LedgerId();
        var command = options.Command("recover",
            "Open a ledger with recovery: fence it on its bookies (its writer can add no more), find its last entry and close it. Does nothing to a closed ledger.", id);
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long ledgerId = ParseLedgerId(result.GetValue(id)!);
            await using var ns = await options.OpenNamespaceAsync(result, ct);
            var before = await ns.Ledgers.MetadataStore.ReadAsync(ledgerId, ct) ?? throw Missing(ledgerId);
            bool wasClosed = before.Value.IsClosed;
            var reader = await OpenAsync(ns.Ledgers.OpenLedgerAsync, ledgerId, ct);
            var metadata = reader.Metadata;
            options.Report(result,
                $"ledger {ledgerId} {(wasClosed ? "was already closed" : "recovered and closed")}: last entry {metadata.LastEntryId}, length {metadata.Length}", w =>
                {
                    w.WriteNumber("ledgerId", ledgerId);
                    w.WriteString("state", metadata.State.ToString());
                    w.WriteNumber("lastEntryId", metadata.LastEntryId);
                    w.WriteNumber("length", metadata.Length);
                    w.WriteBoolean("wasClosed", wasClosed);
                });
            return 0;
        }));
        return command;
    }

    private static async Task<LedgerReader> OpenAsync(Func<long, CancellationToken, Task<LedgerReader>> open, long ledgerId, CancellationToken cancellationToken)
    {
        try
        {
            return await open(ledgerId, cancellationToken);
        }
        catch (DlException e) when (e.Code == StatusCode.NoSuchLedger)
        {
            throw Missing(ledgerId);
        }
    }

    private static DlException Missing(long ledgerId) =>
        new(StatusCode.NoSuchLedger, $"Ledger {ledgerId} does not exist (no metadata under ledgers/); it was never created or was deleted.");

    private static void WriteMetadata(Utf8JsonWriter w, LedgerMetadata m)
    {
        w.WriteNumber("ledgerId", m.LedgerId);
        w.WriteString("state", m.State.ToString());
        w.WriteNumber("ensembleSize", m.EnsembleSize);
        w.WriteNumber("writeQuorumSize", m.WriteQuorumSize);
        w.WriteNumber("ackQuorumSize", m.AckQuorumSize);
        w.WriteNumber("lastEntryId", m.LastEntryId);
        w.WriteNumber("length", m.Length);
        w.WriteString("createdAt", m.CreatedAt);
        w.WriteStartArray("ensembles");
        foreach (var ensemble in m.Ensembles)
        {
            w.WriteStartObject();
            w.WriteNumber("firstEntryId", ensemble.FirstEntryId);
            w.WriteStartArray("bookies");
            foreach (string bookie in ensemble.Bookies)
            {
                w.WriteStringValue(bookie);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("customMetadata");
        foreach (var (key, value) in m.CustomMetadata.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.WriteString(key, value);
        }

        w.WriteEndObject();
    }

    private static void WriteEntry(Utf8JsonWriter w, LedgerEntry entry)
    {
        w.WriteNumber("entryId", entry.EntryId);
        w.WriteNumber("bytes", entry.Payload.Length);
        List<Protocol.Records.LogRecordWithDlsn> records;
        try
        {
            records = EntryReader.ReadAll(entry.Payload.Span, 0, entry.EntryId, 0);
        }
        catch (DlException e)
        {
            // Not a DistributedLog entry (a ledger written by another application) or a corrupt one: say so, keep going.
            w.WriteString("error", e.Message);
            w.WriteBase64String("payload", entry.Payload.Span);
            return;
        }

        w.WriteStartArray("records");
        foreach (var record in records)
        {
            w.WriteStartObject();
            w.WriteNumber("slot", record.Dlsn.SlotId);
            w.WriteNumber("txid", record.TxId);
            w.WriteNumber("positionWithinSegment", record.PositionWithinSegment);
            w.WriteBoolean("control", record.IsControl);
            w.WriteBoolean("endOfStream", record.IsEndOfStream);
            w.WriteBase64String("payload", record.Payload.Span);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void PrintEntry(LedgerEntry entry)
    {
        List<Protocol.Records.LogRecordWithDlsn> records;
        try
        {
            records = EntryReader.ReadAll(entry.Payload.Span, 0, entry.EntryId, 0);
        }
        catch (DlException e)
        {
            Console.WriteLine($"entry {entry.EntryId}  {entry.Payload.Length} bytes  not a DistributedLog entry: {e.Message}");
            return;
        }

        Console.WriteLine($"entry {entry.EntryId}  {entry.Payload.Length} bytes  {records.Count} records");
        foreach (var record in records)
        {
            string kind = record.IsEndOfStream ? "end of stream" : record.IsControl ? "control" : Preview(record.Payload.Span);
            Console.WriteLine($"  slot {record.Dlsn.SlotId,-5} txid {record.TxId,-12} {kind}");
        }
    }

    /// <summary>A payload as text when it is printable UTF-8 (cut at 80 characters), else its size and first bytes in hex.</summary>
    internal static string Preview(ReadOnlySpan<byte> payload)
    {
        const int most = 80;
        try
        {
            string text = new UTF8Encoding(false, true).GetString(payload);
            if (!text.Any(c => char.IsControl(c) && c is not ('\t')))
            {
                return text.Length <= most ? $"\"{text}\"" : $"\"{text[..most]}…\" ({payload.Length} bytes)";
            }
        }
        catch (DecoderFallbackException)
        {
        }

        return $"{payload.Length} bytes 0x{Convert.ToHexString(payload[..Math.Min(payload.Length, 16)])}{(payload.Length > 16 ? "…" : "")}";
    }
}
