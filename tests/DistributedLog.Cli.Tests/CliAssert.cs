using System.Text;
using System.Text.Json;
using DistributedLog.Protocol.Records;
using DistributedLog.Testing;

namespace DistributedLog.Cli.Tests;

/// <summary>One line of <c>dlog write --json</c>.</summary>
public sealed record WriteAck(string Dlsn, long TxId);

/// <summary>One line of <c>dlog read --json</c>.</summary>
public sealed record ReadRecord(string Dlsn, long TxId, long SequenceId, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>Parsing of the tool's JSON output and the assertions every test shares.</summary>
public static class CliAssert
{
    /// <summary>The command succeeded (exit code 0, nothing on stderr).</summary>
    public static DlogResult Succeeded(DlogResult result)
    {
        Assert.True(result.ExitCode == 0, $"expected success, got {result}");
        Assert.True(result.Stderr.Length == 0, $"expected nothing on stderr, got {result}");
        return result;
    }

    /// <summary>
    /// A user error as the contract wants it: a non-zero exit code, exactly one line on stderr starting with
    /// <c>dlog:</c>, no stack trace anywhere; the line mentions each of <paramref name="mentions"/> (case-insensitive).
    /// </summary>
    public static string UserError(DlogResult result, params string[] mentions)
    {
        Assert.True(result.ExitCode != 0, $"expected a failure, got {result}");
        Assert.True(result.ErrorLines.Count == 1, $"expected exactly one line on stderr, got {result}");
        string line = result.ErrorLines[0];
        Assert.True(line.StartsWith("dlog: ", StringComparison.Ordinal), $"the error line does not start with 'dlog: ': {result}");
        Assert.True(line.Length > "dlog: ".Length + 10, $"the error line says too little: {result}");
        Assert.False(result.Stderr.Contains("   at ", StringComparison.Ordinal) || result.Stdout.Contains("   at ", StringComparison.Ordinal),
            $"a stack trace was printed: {result}");
        foreach (string mention in mentions)
        {
            Assert.True(line.Contains(mention, StringComparison.OrdinalIgnoreCase), $"the error line does not mention '{mention}': {result}");
        }

        return line;
    }

    public static IReadOnlyList<WriteAck> Acks(DlogResult result) => Acks(result.Lines);

    public static IReadOnlyList<WriteAck> Acks(IEnumerable<string> lines) => [.. lines.Select(ParseAck)];

    public static WriteAck ParseAck(string line)
    {
        using var json = Parse(line);
        var root = json.RootElement;
        return new WriteAck(root.GetProperty("dlsn").GetString()!, root.GetProperty("txid").GetInt64());
    }

    public static IReadOnlyList<ReadRecord> Records(DlogResult result) => Records(result.Lines);

    public static IReadOnlyList<ReadRecord> Records(IEnumerable<string> lines) => [.. lines.Select(ParseRecord)];

    public static ReadRecord ParseRecord(string line)
    {
        using var json = Parse(line);
        var root = json.RootElement;
        return new ReadRecord(root.GetProperty("dlsn").GetString()!, root.GetProperty("txid").GetInt64(), root.GetProperty("sequenceId").GetInt64(),
            root.GetProperty("payload").GetBytesFromBase64());
    }

    public static JsonDocument Parse(string line)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new Xunit.Sdk.XunitException($"not a JSON object: '{line}' ({e.Message})");
        }
    }

    public static Dlsn ToDlsn(string text)
    {
        Assert.True(Dlsn.TryParse(text, out var dlsn), $"'{text}' is not a DLSN");
        return dlsn;
    }

    /// <summary>The DLSNs strictly increase and the txids never decrease.</summary>
    public static void InOrder(IReadOnlyList<WriteAck> acks)
    {
        for (int i = 1; i < acks.Count; i++)
        {
            Assert.True(ToDlsn(acks[i - 1].Dlsn) < ToDlsn(acks[i].Dlsn), $"DLSNs out of order at {i}: {acks[i - 1].Dlsn} then {acks[i].Dlsn}");
            Assert.True(acks[i - 1].TxId <= acks[i].TxId, $"txids out of order at {i}: {acks[i - 1].TxId} then {acks[i].TxId}");
        }
    }

    /// <summary>The payload <c>dlog write --count N --size B</c> generates for record <paramref name="index"/>.</summary>
    public static string Generated(long index, int size)
    {
        string label = $"record-{index}";
        return label.Length >= size ? label[..size] : label + new string('.', size - label.Length);
    }

    /// <summary>A log name no other test uses.</summary>
    public static string NewLog(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}
