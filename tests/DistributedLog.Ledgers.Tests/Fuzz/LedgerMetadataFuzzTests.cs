using System.Text;
using System.Text.Json;
using CsCheck;
using DistributedLog.Fuzzing;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Ledgers.Tests.Fuzz;

/// <summary>
/// Fuzzes the decoding of stored ledger metadata (<see cref="LedgerMetadata.FromJson"/>) with structurally mutated JSON
/// (nulls, wrong types, out-of-range numbers, missing and unknown members) and damaged bytes. Property: it either returns
/// metadata that passes its own invariants or throws a <see cref="DlException"/> with a metadata status — never a
/// NullReferenceException or another exception from deeper down.
/// </summary>
public sealed class LedgerMetadataFuzzTests
{
    private static readonly Gen<byte[]> ValidJson = Gen.Select(Gen.Int[1, 5], Gen.Int[0, 3], Gen.Byte.Array[1, 64], Gen.Long[0, 1000], Gen.Bool,
        (e, changes, key, ledgerId, closed) =>
        {
            var ensembles = Enumerable.Range(0, changes + 1)
                .Select(c => new EnsembleSegment(c * 10L, [.. Enumerable.Range(0, e).Select(b => $"127.0.0.1:{3181 + b + c}")]))
                .ToList();
            var metadata = new LedgerMetadata
            {
                LedgerId = ledgerId,
                EnsembleSize = e,
                WriteQuorumSize = e,
                AckQuorumSize = 1,
                Ensembles = ensembles,
                MasterKey = key,
                State = closed ? LedgerState.Closed : LedgerState.Open,
                LastEntryId = closed ? 42 : -1,
                CustomMetadata = new Dictionary<string, string> { ["log"] = "a/b" },
            };
            return JsonSerializer.SerializeToUtf8Bytes(metadata, LedgerMetadataJson.Default.LedgerMetadata);
        });

    [Fact(Timeout = 60_000)]
    public Task Mutated_ledger_metadata_decodes_or_raises_a_metadata_error() => Task.Run(() =>
        JsonMutations.Of(ValidJson).Sample(json =>
        {
            long ledgerId = LedgerIdIn(json);
            try
            {
                var metadata = LedgerMetadata.FromJson(ledgerId, json);
                Assert.Null(metadata.Validate());
                Assert.Equal(ledgerId, metadata.LedgerId);
                _ = metadata.CurrentEnsemble;
                _ = metadata.EnsembleAt(5);
            }
            catch (DlException e) when (e.Code is StatusCode.MetadataException or StatusCode.UnsupportedMetadataVersion)
            {
                Assert.Contains($"ledger {ledgerId}", e.Message, StringComparison.OrdinalIgnoreCase);
            }
        }, iter: 2000));

    [Theory]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":null,"masterKey":"AQ=="}""")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[null],"masterKey":"AQ=="}""")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[{"firstEntryId":0,"bookies":null}],"masterKey":"AQ=="}""")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[{"firstEntryId":0,"bookies":[null]}],"masterKey":"AQ=="}""")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[{"firstEntryId":0,"bookies":["b"]}],"masterKey":null}""")]
    [InlineData("""{"ledgerId":1,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[{"firstEntryId":0,"bookies":["b"]}],"masterKey":"AQ==","customMetadata":null}""")]
    [InlineData("""{"ledgerId":2,"ensembleSize":1,"writeQuorumSize":1,"ackQuorumSize":1,"ensembles":[{"firstEntryId":0,"bookies":["b"]}],"masterKey":"AQ=="}""")]
    public void Nulls_and_mismatches_in_ledger_metadata_are_metadata_errors(string json)
    {
        // The null ensembles, bookies, key and custom metadata used to raise a NullReferenceException from Validate, and
        // metadata naming another ledger was accepted; now each is a metadata error.
        var error = Assert.Throws<DlException>(() => LedgerMetadata.FromJson(1, Encoding.UTF8.GetBytes(json)));
        Assert.Equal(StatusCode.MetadataException, error.Code);
    }

    private static long LedgerIdIn(byte[] json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("ledgerId", out var id)
                && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out long value) ? value : 7;
        }
        catch (JsonException)
        {
            return 7;
        }
    }
}
