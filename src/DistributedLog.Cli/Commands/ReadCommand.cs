using System.CommandLine;
using DistributedLog.Client;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// <c>dlog read LOG</c>: prints records from the start, a DLSN (<c>--from</c>), a txid (<c>--from-txid</c>) or a
/// subscriber's position; stops at the log's current end, or tails with <c>--follow</c> until interrupted.
/// </summary>
internal static class ReadCommand
{
    public static Command Create()
    {
        var (endpoint, json, log) = (ClientOptions.Endpoint(), ClientOptions.Json(), ClientOptions.Log());
        var from = new Option<string?>("--from") { Description = "Start at this DLSN (lssn:entry:slot)." };
        var fromTxId = new Option<long?>("--from-txid") { Description = "Start at the first record whose txid is at least this." };
        var subscriber = new Option<string?>("--subscriber") { Description = "Start after this subscriber's committed position." };
        var count = new Option<long>("--count") { Description = "Stop after this many records (0: no limit).", DefaultValueFactory = _ => 0 };
        var follow = new Option<bool>("--follow") { Description = "Keep tailing the log after its current end." };
        var command = new Command("read", "Read records from a log; with --json one object per record per line.")
        {
            log, from, fromTxId, subscriber, count, follow, endpoint, json,
        };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string? fromText = result.GetValue(from);
            long? txId = result.GetValue(fromTxId);
            string? subscriberId = result.GetValue(subscriber);
            if ((fromText is null ? 0 : 1) + (txId is null ? 0 : 1) + (subscriberId is null ? 0 : 1) > 1)
            {
                throw new ArgumentException("Give at most one of --from, --from-txid and --subscriber.");
            }

            if (txId < 0 || result.GetValue(count) < 0)
            {
                throw new ArgumentException("--from-txid and --count must not be negative.");
            }

            var options = new ClientReadOptions
            {
                From = fromText is null ? null : ClientOptions.ParseDlsn(fromText, "--from"),
                FromTxId = txId,
                Subscriber = subscriberId,
                Count = result.GetValue(count),
                Follow = result.GetValue(follow),
            };
            bool asJson = result.GetValue(json);
            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            using var stdout = new BufferedStream(Console.OpenStandardOutput(), 1 << 16);
            try
            {
                await foreach (var record in client.ReadAsync(result.GetValue(log)!, options, ct))
                {
                    if (asJson)
                    {
                        ClientOptions.WriteJsonLine(stdout, w =>
                        {
                            w.WriteString("dlsn", record.Dlsn.ToString());
                            w.WriteNumber("txid", record.TxId);
                            w.WriteNumber("sequenceId", record.SequenceId);
                            w.WriteBase64String("payload", record.Payload.Span);
                        }, flush: options.Follow);
                    }
                    else
                    {
                        stdout.Write(record.Payload.Span);
                        stdout.WriteByte((byte)'\n');
                        if (options.Follow)
                        {
                            stdout.Flush();
                        }
                    }
                }
            }
            finally
            {
                stdout.Flush();
            }

            return 0;
        }));
        return command;
    }
}
