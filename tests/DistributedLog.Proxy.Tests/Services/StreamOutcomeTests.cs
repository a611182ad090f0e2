using System.Text;
using DistributedLog.Client;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Proxy.Hosting;
using DistributedLog.Testing;
using DistributedLog.Writers;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>
/// The write-stream defects of the 600-second chaos run: every streamed record gets an outcome within a bound while
/// etcd is paused (the proxy's lease lost, segment rolls stuck on metadata), and a record reported "not written" never
/// turns up in the log.
/// </summary>
public sealed class StreamOutcomeTests(EtcdServer etcd) : IClassFixture<EtcdServer>
{
    private static string Text(LogRecordWithDlsn record) => Encoding.UTF8.GetString(record.Payload.Span);

    private static ProxyOptions Options() => new()
    {
        Port = 0,
        OwnershipTtl = TimeSpan.FromSeconds(2),
        RequestTimeout = TimeSpan.FromSeconds(2),
        Writer = new LogWriterOptions { MaxSegmentBytes = 2048 }, // a roll (metadata writes) every few records
    };

    [Fact]
    public async Task StreamedRecordsAllGetAnOutcomeWhileEtcdIsPausedAndNoneReportedNotWrittenIsInTheLog()
    {
        await using var proxies = await InProcessProxies.StartAsync(Options, Options, etcd.NewStoreUri());
        var client = proxies.Client(discover: false, proxies.A.Endpoint);
        await client.CreateLogAsync("paused-stream");
        await using var stream = client.OpenWriteStream("paused-stream");
        string padding = new('.', 200);
        foreach (var write in Enumerable.Range(0, 20).Select(i => stream.WriteAsync(Encoding.UTF8.GetBytes($"before-{i}{padding}"))).ToList())
        {
            await write;
        }

        var during = new List<(string Text, Task<LogWriteResult> Write)>();
        etcd.Pause();
        try
        {
            for (int i = 0; i < 60; i++)
            {
                string text = $"during-{i}";
                during.Add((text, stream.WriteAsync(Encoding.UTF8.GetBytes(text + padding))));
            }

            // The liveness bound: the proxy's request timeout (2 s) plus the client's retry budget (20 s), with slack.
            var all = Task.WhenAll(during.Select(d => (Task)d.Write));
            await Task.WhenAny(all.ContinueWith(_ => { }, TaskScheduler.Default), Task.Delay(TimeSpan.FromSeconds(45)));
            Assert.True(all.IsCompleted,
                $"{during.Count(d => !d.Write.IsCompleted)} of {during.Count} streamed records have no outcome 45 s after etcd paused");
        }
        finally
        {
            etcd.Resume();
        }

        Assert.Contains(during, d => d.Write.IsFaulted); // the rolls needed etcd: some records failed

        // The same stream goes on once etcd is back: the log is acquired again and the proxy's segment recovered. The
        // first records may still meet the old writer's roll racing the new one (an unknown outcome, reported): a later
        // one is acknowledged.
        string? after = null;
        var errors = new List<string>();
        for (int attempt = 0; attempt < 30 && after is null; attempt++)
        {
            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes($"after-{attempt}"));
                after = $"after-{attempt}";
            }
            catch (DlException e) when (e.IsRetryable || e.Code == StatusCode.WriteException)
            {
                errors.Add($"{e.Code}: {e.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        }

        Assert.True(after is not null, string.Join("\n", errors));

        // "Not written" is exact: a record reported so is not in the log, even after recovery of the proxy's segment.
        var notWritten = during.Where(d => d.Write.Exception?.InnerException is WriteCancelledException).Select(d => d.Text).ToHashSet();
        var acked = during.Where(d => d.Write.IsCompletedSuccessfully).Select(d => d.Text).ToList();
        var texts = new List<string>();
        using var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await foreach (var record in client.ReadAsync("paused-stream").WithCancellation(readTimeout.Token))
            {
                texts.Add(Text(record).TrimEnd('.'));
            }
        }
        catch (OperationCanceledException) when (readTimeout.IsCancellationRequested)
        {
            var segments = await proxies.Namespace.OpenLog("paused-stream").GetSegmentsAsync();
            Assert.Fail($"The read did not end in 60 s after {texts.Count} records (last: {(texts.Count > 0 ? texts[^1] : "none")}); segments:\n"
                + string.Join("\n", segments.Select(s => $"  {s.Lssn} ledger {s.LedgerId} {s.State} txids {s.FirstTxId}..{s.LastTxId} records {s.RecordCount}")));
        }

        Assert.DoesNotContain(texts, notWritten.Contains);
        Assert.All(acked, text => Assert.Contains(text, texts));
        Assert.Equal(after, texts[^1]);
    }
}
