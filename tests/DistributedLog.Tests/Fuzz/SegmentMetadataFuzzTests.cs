using System.Text;
using System.Text.Json;
using CsCheck;
using DistributedLog.Fuzzing;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Errors;
using DistributedLog.Segments;

namespace DistributedLog.Tests.Fuzz;

/// <summary>
/// Fuzzes the decoding of stored log-segment records (<see cref="LogSegmentMetadata.FromJson"/>) with structurally
/// mutated JSON and damaged bytes. Property: a record decodes to sane values or raises a <see cref="DlException"/> with a
/// metadata status naming the key — never another exception (a "null" record used to surface as a NullReferenceException
/// in log recovery).
/// </summary>
public sealed class SegmentMetadataFuzzTests
{
    private const string Key = "dl/ns/segments/log/000000000000000001";

    private static readonly Gen<byte[]> ValidJson = Gen.Select(Gen.Long[1, 100], Gen.Long[0, 1000], Gen.Long[0, 1000], Gen.Bool, Gen.Int[0, 2],
        (lssn, ledger, txid, completed, truncation) => JsonSerializer.SerializeToUtf8Bytes(new LogSegmentMetadata
        {
            Lssn = lssn,
            LedgerId = ledger,
            FirstTxId = txid,
            State = completed ? LogSegmentState.Completed : LogSegmentState.InProgress,
            LastTxId = completed ? txid + 5 : -1,
            LastEntryId = completed ? 3 : -1,
            RecordCount = completed ? 6 : 0,
            CompletionTime = completed ? DateTimeOffset.UnixEpoch : null,
            Truncation = (TruncationStatus)truncation,
            MinActiveDlsn = truncation == 1 ? $"{lssn}:1:0" : null,
        }, LogMetadataJson.Default.LogSegmentMetadata));

    [Fact(Timeout = 60_000)]
    public Task Mutated_segment_records_decode_or_raise_a_metadata_error() => Task.Run(() =>
        JsonMutations.Of(ValidJson).Sample(json =>
        {
            try
            {
                var segment = LogSegmentMetadata.FromJson(Key, json);
                Assert.True(segment.Lssn >= 1 && segment.LedgerId >= 0 && segment.RecordCount >= 0);
                _ = DistributedLog.Readers.SegmentReads.MinActiveDlsn(segment);
            }
            catch (DlException e) when (e.Code is StatusCode.MetadataException or StatusCode.UnsupportedMetadataVersion)
            {
                Assert.Contains(Key, e.Message, StringComparison.Ordinal);
            }
        }, iter: 2000));

    [Theory]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("""{"lssn":0,"ledgerId":1,"firstTxId":0}""")]
    [InlineData("""{"lssn":1,"ledgerId":-1,"firstTxId":0}""")]
    [InlineData("""{"lssn":1,"ledgerId":1,"firstTxId":0,"formatVersion":0}""")]
    public void Empty_and_impossible_segment_records_are_metadata_errors(string json)
    {
        var error = Assert.Throws<DlException>(() => LogSegmentMetadata.FromJson(Key, Encoding.UTF8.GetBytes(json)));
        Assert.Equal(StatusCode.MetadataException, error.Code);
    }
}
