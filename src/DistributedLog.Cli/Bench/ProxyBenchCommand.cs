using System.CommandLine;
using DistributedLog.Cli.Commands;
using DistributedLog.Client;
using DistributedLog.Client.Writes;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// <c>dlog bench proxy</c>: writes through a write proxy, over one write stream (many records in flight, packed into
/// messages) or with unary calls, with a fixed number in flight; reports records/s and acknowledgement latency.
/// </summary>
internal static class ProxyBenchCommand
{
    public static Command Create()
    {
        var (endpoint, json) = (ClientOptions.Endpoint(), ClientOptions.Json());
        var log = new Option<string>("--log") { Description = "Log to write (created when missing).", DefaultValueFactory = _ => "bench/proxy" };
        var mode = new Option<string>("--mode") { Description = "stream (one bidirectional write stream) or unary (one call per record).", DefaultValueFactory = _ => "stream" };
        var inflight = new Option<int>("--inflight") { Description = "Records in flight.", DefaultValueFactory = _ => 256 };
        var size = new Option<int>("--size") { Description = "Payload bytes per record.", DefaultValueFactory = _ => 100 };
        var seconds = new Option<double>("--seconds") { Description = "Measured seconds (after a 2 s warm-up).", DefaultValueFactory = _ => 10 };
        var command = new Command("proxy", "Write through a proxy (stream or unary) with a fixed number in flight; report records/s and latency.")
        {
            endpoint, log, mode, inflight, size, seconds, json,
        };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            string name = result.GetValue(log)!;
            string how = result.GetValue(mode)!;
            int outstanding = result.GetValue(inflight);
            int payloadSize = result.GetValue(size);
            double duration = result.GetValue(seconds);
            if (how is not ("stream" or "unary"))
            {
                throw new ArgumentException($"--mode must be stream or unary (got '{how}').");
            }

            if (outstanding < 1 || payloadSize < 0 || payloadSize > LogRecord.MaxPayloadSize || duration <= 0)
            {
                throw new ArgumentException($"--inflight must be ≥ 1, --size within 0..{LogRecord.MaxPayloadSize}, --seconds > 0.");
            }

            await using var client = ClientOptions.Connect(result.GetValue(endpoint)!);
            try
            {
                await client.CreateLogAsync(name, ct);
            }
            catch (LogExistsException)
            {
            }

            byte[] payload = new byte[payloadSize];
            Random.Shared.NextBytes(payload);
            await using var stream = client.OpenWriteStream(name, new LogWriteStreamOptions { MaxInFlight = Math.Max(outstanding, 1024) });
            LoadRunner.Operation operation = how == "stream"
                ? async _ =>
                {
                    try
                    {
                        await stream.WriteAsync(payload);
                        return true;
                    }
                    catch (DlException)
                    {
                        return false;
                    }
                }
                : async _ =>
                {
                    try
                    {
                        await client.WriteAsync(name, payload, ct);
                        return true;
                    }
                    catch (DlException)
                    {
                        return false;
                    }
                };
            var report = await LoadRunner.RunAsync($"proxy {how} {result.GetValue(endpoint)} log {name}", outstanding, payloadSize,
                TimeSpan.FromSeconds(duration), operation, ct);
            LoadRunner.Print(report, result.GetValue(json));
            return report.Errors == 0 ? 0 : 1;
        }));
        return command;
    }
}
