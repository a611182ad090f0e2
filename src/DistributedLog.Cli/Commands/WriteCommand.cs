using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Threading.Channels;
using DistributedLog.Client;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using Spectre.Console;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// <c>dlog write LOG</c>: each stdin line becomes one record (or <c>--count N --size B</c> generated ones), sent over one
/// write stream with many in flight. With <c>--json</c> each acknowledgement is printed (and flushed) as it arrives, in
/// input order, so when the proxy dies mid-stream the caller knows exactly which records were acknowledged; the
/// command then exits non-zero. When the proxy's writer fails (the log is fenced, loses its bookies), the records in
/// flight are reported as of unknown outcome (<c>{"outcome":"unknown",…}</c> with <c>--json</c>) and the command goes
/// on with later records on a new stream; it exits 1 at the end, saying how many records had an unknown outcome.
/// With <c>--batch N</c> (N ≥ 2) the records go in record sets of up to N (fewer when a set reaches the maximum record
/// size, and the last one at the end of the input), optionally LZ4-compressed (<c>--compression lz4</c>); each set is
/// one write, and each of its records is still acknowledged with its own DLSN.
/// </summary>
internal static class WriteCommand
{
    private const int MaxOutstanding = 16 * 1024;

    public static Command Create()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var count = new Option<long>("--count") { Description = "Write this many generated records instead of reading stdin.", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--size") { Description = "Payload bytes of each generated record.", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch") { Description = "Send records in record sets of up to N (one write each; 1 = each record alone).", DefaultValueFactory = _ => 1 };
        var compression = new Option<string>("--compression") { Description = "Compression of record sets: none or lz4 (needs --batch N, N >= 2).", DefaultValueFactory = _ => "none" };
        var command = new Command("write", "Write records to a log: one per stdin line, or --count generated ones.") { log, count, size, batch, compression, endpoint, json };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            long total = result.GetValue(count);
            int payloadSize = result.GetValue(size);
            if (total < 0)
            {
                throw new ArgumentException($"--count must not be negative (got {total}).");
            }

            if (payloadSize < 0 || payloadSize > LogRecord.MaxPayloadSize)
            {
                throw new ArgumentException($"--size must be within 0..{LogRecord.MaxPayloadSize} bytes (got {payloadSize}).");
            }

            int batchSize = result.GetValue(batch);
            if (batchSize < 1)
            {
                throw new ArgumentException($"--batch must be at least 1 (got {batchSize}).");
            }

            var codec = result.GetValue(compression) switch
            {
                "none" => CompressionCodec.None,
                "lz4" => CompressionCodec.Lz4,
                var other => throw new ArgumentException($"--compression must be none or lz4 (got '{other}')."),
            };
            if (codec != CompressionCodec.None && batchSize < 2)
            {
                throw new ArgumentException("--compression applies to record sets: give --batch N with N >= 2.");
            }

            bool asJson = result.GetValue(json);
            string name = result.GetValue(log)!;
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);

            // Not `await using`: after a failure the stream is abandoned rather than completed, because completing it waits
            // for writes queued after the failure, which the client may retry for its whole retry budget.
            var stream = client.OpenWriteStream(name);
            var acks = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(Math.Max(16, MaxOutstanding / batchSize)) { SingleReader = true, SingleWriter = true });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var producing = Task.Run(async () =>
            {
                using var set = batchSize > 1 ? new LogRecordSetBuilder(codec) : null;
                try
                {
                    await foreach (var payload in Payloads(total, payloadSize, stop.Token))
                    {
                        if (set is null)
                        {
                            if (!await SendAsync(acks.Writer, stop, () => new PendingWrite(stream.WriteAsync(payload), null, 1)))
                            {
                                break;
                            }

                            continue;
                        }

                        // A record too large to share a set goes alone, after the set collected so far.
                        bool alone = LogRecord.HeaderSize + RecordSetFormat.HeaderSize + RecordSetFormat.RecordOverhead + payload.Length > set.MaxRecordSize;
                        if ((alone || !set.TryAdd(payload.Span)) && set.Count > 0)
                        {
                            if (!await SendSetAsync(acks.Writer, stop, stream, set))
                            {
                                break;
                            }

                            alone = alone || !set.TryAdd(payload.Span);
                        }

                        if (alone)
                        {
                            if (!await SendAsync(acks.Writer, stop, () => new PendingWrite(stream.WriteAsync(payload), null, 1)))
                            {
                                break;
                            }
                        }
                        else if (set.Count == batchSize && !await SendSetAsync(acks.Writer, stop, stream, set))
                        {
                            break;
                        }
                    }

                    if (set is { Count: > 0 } && !stop.IsCancellationRequested)
                    {
                        await SendSetAsync(acks.Writer, stop, stream, set);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                finally
                {
                    acks.Writer.TryComplete();
                }
            }, CancellationToken.None);

            var printer = new AckPrinter(asJson);
            if (ClientOptions.ShowProgress(asJson) && total > 0)
            {
                await AnsiConsole.Progress().AutoClear(true).StartAsync(async progress =>
                {
                    var task = progress.AddTask($"writing {name}", maxValue: total);
                    await printer.RunAsync(acks.Reader, n => task.Increment(n));
                });
            }
            else
            {
                await printer.RunAsync(acks.Reader, null);
            }

            await producing;
            if (printer.Failure is { } failure)
            {
                await Console.Error.WriteLineAsync($"dlog: write failed after {printer.Acknowledged} acknowledged records" +
                    (printer.Unknown > 0 ? $" ({printer.Unknown} of unknown outcome)" : "") + $": {failure.Message}");
                return 1;
            }

            ct.ThrowIfCancellationRequested();
            await stream.CompleteAsync();
            if (!asJson)
            {
                Console.WriteLine(printer.Last is { } last
                    ? $"wrote {printer.Acknowledged} records to {name}" + (printer.Sets > 0 ? $" in {printer.Sets} record sets" : "") +
                      $" (last DLSN {last.Dlsn}, txid {last.TxId})"
                    : $"wrote no records to {name}");
            }

            if (printer.Unknown > 0)
            {
                await Console.Error.WriteLineAsync(
                    $"dlog: {printer.Unknown} records of unknown outcome (may or may not be in the log): {printer.FirstUnknown!.Message}");
                return 1;
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Waits for room in the window, then starts the write: nothing is queued on the stream once stopping.</summary>
    private static async Task<bool> SendAsync(ChannelWriter<PendingWrite> acks, CancellationTokenSource stop, Func<PendingWrite> start)
    {
        if (!await acks.WaitToWriteAsync(stop.Token) || stop.IsCancellationRequested)
        {
            return false;
        }

        var write = start();
        Task task = write.Record ?? (Task)write.Set!;
        _ = task.ContinueWith(static (t, state) =>
        {
            // A record whose outcome is unknown (the proxy's writer failed) does not stop the command: the stream goes on
            // with later records. Any other failure does.
            if (!IsOutcomeUnknown(t.Exception?.InnerException))
            {
                StopQuietly((CancellationTokenSource)state!);
            }
        }, stop, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        acks.TryWrite(write);
        return true;
    }

    /// <summary>Sends the records collected in <paramref name="set"/> as one record set and empties it.</summary>
    private static async Task<bool> SendSetAsync(ChannelWriter<PendingWrite> acks, CancellationTokenSource stop, Client.Writes.LogWriteStream stream, LogRecordSetBuilder set)
    {
        int count = set.Count;
        byte[] payload = set.ToPayload();
        set.Reset();
        return await SendAsync(acks, stop, () => new PendingWrite(null, stream.WriteRecordSetAsync(payload), count));
    }

    /// <summary>Whether a write failed with an unknown outcome (WRITE_EXCEPTION: it may or may not have been written).</summary>
    private static bool IsOutcomeUnknown(Exception? error) => error is DlException { Code: StatusCode.WriteException };

    /// <summary>Stops the producer when a write failed (the first failure; the client fails every later outstanding write too).</summary>
    private static void StopQuietly(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The command already finished.
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Payloads(long total, int size, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        if (total > 0)
        {
            for (long i = 0; i < total; i++)
            {
                ct.ThrowIfCancellationRequested();
                yield return Generated(i, size);
            }

            yield break;
        }

        using var stdin = Console.OpenStandardInput();
        await foreach (var line in Lines(stdin, ct))
        {
            yield return line;
        }
    }

    /// <summary>
    /// The lines of <paramref name="input"/> as bytes, exactly: a line ends at '\n' (a '\r' right before it is dropped)
    /// or at the end of the input, and is not decoded, so any bytes (not only UTF-8 text) round-trip.
    /// </summary>
    /// <exception cref="LogRecordTooLongException">A line is longer than a record may be (found before it is all read).</exception>
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Lines(Stream input, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        byte[] chunk = new byte[1 << 16];
        var line = new ArrayBufferWriter<byte>(256);
        long lineNumber = 1;
        bool pending = false;
        int read;
        while ((read = await input.ReadAsync(chunk, ct)) > 0)
        {
            var rest = chunk.AsMemory(0, read);
            while (rest.Length > 0)
            {
                int newline = rest.Span.IndexOf((byte)'\n');
                var part = newline < 0 ? rest : rest[..newline];
                if (line.WrittenCount + part.Length > LogRecord.MaxPayloadSize + 1)
                {
                    throw new LogRecordTooLongException(
                        $"Input line {lineNumber} is longer than the maximum record size ({LogRecord.MaxPayloadSize} bytes); nothing from it on was written.");
                }

                line.Write(part.Span);
                pending = true;
                if (newline < 0)
                {
                    break;
                }

                yield return Complete(line, lineNumber++);
                pending = false;
                rest = rest[(newline + 1)..];
            }
        }

        if (pending)
        {
            yield return Complete(line, lineNumber);
        }
    }

    /// <summary>Copies out the line collected in <paramref name="line"/> (without a trailing '\r') and clears it.</summary>
    private static byte[] Complete(ArrayBufferWriter<byte> line, long lineNumber)
    {
        var bytes = line.WrittenSpan;
        if (bytes.Length > 0 && bytes[^1] == (byte)'\r')
        {
            bytes = bytes[..^1];
        }

        if (bytes.Length > LogRecord.MaxPayloadSize)
        {
            throw new LogRecordTooLongException(
                $"Input line {lineNumber} is longer than the maximum record size ({LogRecord.MaxPayloadSize} bytes); nothing from it on was written.");
        }

        byte[] payload = bytes.ToArray();
        line.ResetWrittenCount();
        return payload;
    }

    /// <summary>A generated payload: "record-&lt;i&gt;" padded with '.' to <paramref name="size"/> bytes (truncated when shorter).</summary>
    private static byte[] Generated(long index, int size)
    {
        byte[] payload = new byte[size];
        payload.AsSpan().Fill((byte)'.');
        byte[] label = Encoding.ASCII.GetBytes($"record-{index}");
        label.AsSpan(0, Math.Min(label.Length, size)).CopyTo(payload);
        return payload;
    }

    /// <summary>Awaits acknowledgements in input order and prints them; stops at the first failure.</summary>
    /// <summary>One write of the stream: a record (<c>Record</c>) or a record set of <c>Count</c> records (<c>Set</c>).</summary>
    private readonly record struct PendingWrite(Task<LogWriteResult>? Record, Task<LogRecordSetWriteResult>? Set, int Count);

    private sealed class AckPrinter(bool json)
    {
        public long Acknowledged { get; private set; }

        /// <summary>Record sets acknowledged.</summary>
        public long Sets { get; private set; }

        public LogWriteResult? Last { get; private set; }

        public Exception? Failure { get; private set; }

        /// <summary>Records whose outcome is unknown (reported, then skipped: later records go on).</summary>
        public long Unknown { get; private set; }

        public Exception? FirstUnknown { get; private set; }

        public async Task RunAsync(ChannelReader<PendingWrite> acks, Action<int>? progress)
        {
            using var stdout = Console.OpenStandardOutput();
            await foreach (var ack in acks.ReadAllAsync(CancellationToken.None))
            {
                Task task = ack.Record ?? (Task)ack.Set!;
                if (Failure is not null)
                {
                    // Nothing after a failure is reported as written; observe its outcome without waiting for it.
                    _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    continue;
                }

                try
                {
                    RecordSetDlsns dlsns;
                    long txId;
                    if (ack.Record is { } record)
                    {
                        var result = await record;
                        (dlsns, txId) = (new RecordSetDlsns(result.Dlsn, 1), result.TxId);
                    }
                    else
                    {
                        var result = await ack.Set!;
                        (dlsns, txId) = (result.Dlsns, result.TxId);
                        Sets++;
                    }

                    Acknowledged += dlsns.Count;
                    Last = new LogWriteResult(dlsns.Last, txId);
                    if (json)
                    {
                        // One line per record, a set's records included, each with its own DLSN.
                        for (int i = 0; i < dlsns.Count; i++)
                        {
                            Dlsn dlsn = dlsns[i];
                            ClientOptions.WriteJsonLine(stdout, w =>
                            {
                                w.WriteString("dlsn", dlsn.ToString());
                                w.WriteNumber("txid", txId);
                            });
                        }
                    }

                    progress?.Invoke(dlsns.Count);
                }
                catch (Exception e) when (IsOutcomeUnknown(e))
                {
                    Unknown += ack.Count;
                    FirstUnknown ??= e;
                    if (json)
                    {
                        for (int i = 0; i < ack.Count; i++)
                        {
                            ClientOptions.WriteJsonLine(stdout, w =>
                            {
                                w.WriteString("outcome", "unknown");
                                w.WriteString("error", e.Message);
                            });
                        }
                    }
                }
                catch (Exception e) when (e is DlException or IOException)
                {
                    Failure = e;
                }
            }
        }
    }
}
