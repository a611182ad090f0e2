using System.Globalization;
using System.Text;
using DistributedLog.Examples;
using DistributedLog.Protocol.Records;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("""
        DistributedLog examples: the samples of docs/guide.md, and a short demo.

        usage:
          dotnet run --project examples/DistributedLog.Examples -- <metadata-uri>            write, read, tail, subscribe, truncate
          dotnet run --project examples/DistributedLog.Examples -- <metadata-uri> --hosted   the hosted-app sample (Ctrl-C stops it)
          dotnet run --project examples/DistributedLog.Examples -- --proxy <endpoint>         the proxy client (e.g. against `dlog sandbox`)

        <metadata-uri> is a store where at least three bookies are registered, e.g. etcd://127.0.0.1:2379/dl
        (start them with: dlog bookie --data ./data/bookie-1 --port 3181 --metadata etcd://127.0.0.1:2379/dl).
        """);
    return 0;
}

if (args[0] == "--proxy")
{
    string endpoint = args.Length > 1 ? args[1] : "http://127.0.0.1:7000";
    await ClientSamples.RunAsync(endpoint, "orders/client-demo", CancellationToken.None);
    return 0;
}

string metadataUri = args[0];
if (args.Length > 1 && args[1] == "--hosted")
{
    await HostedSample.RunAsync([$"--DistributedLog:MetadataUri={metadataUri}", .. args[2..]]);
    return 0;
}

using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
CancellationToken cancellationToken = stop.Token;

await using var ns = await GuideSamples.OpenNamespaceAsync(metadataUri, cancellationToken);
string logName = "orders/demo-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
var log = await GuideSamples.CreateLogAsync(ns, logName, cancellationToken);
Console.WriteLine($"== write to {logName}");
Dlsn first = await GuideSamples.WriteAsync(log, cancellationToken);

Console.WriteLine("== read");
await GuideSamples.ReadAsync(log, first, cancellationToken);

Console.WriteLine("== tail (5 more records arrive while tailing, then the log is sealed)");
Task<int> tail = GuideSamples.TailAsync(log, cancellationToken);
await using (var writer = await log.OpenWriterAsync(cancellationToken: cancellationToken))
{
    long txId = writer.LastTxId + 1;
    for (int i = 0; i < 5; i++)
    {
        await writer.WriteAsync(new LogRecord(txId++, Encoding.UTF8.GetBytes($"late order {i + 1}")));
        await Task.Delay(200, cancellationToken);
    }
}

await GuideSamples.MarkEndOfStreamAsync(log, cancellationToken);
Console.WriteLine($"tail saw {await tail} records before the end of stream");

Console.WriteLine("== subscription");
Dlsn? committed = await GuideSamples.SubscribeAsync(log, "demo-subscriber", cancellationToken);
Console.WriteLine($"committed position: {committed}");

Console.WriteLine("== retention and errors");
Console.WriteLine($"purged {await GuideSamples.ApplyRetentionAsync(log, cancellationToken)} segment(s)");
await GuideSamples.HandleErrorsAsync(log, 1, cancellationToken);

await ns.DeleteLogAsync(logName, cancellationToken);
Console.WriteLine($"deleted {logName}");
return 0;
