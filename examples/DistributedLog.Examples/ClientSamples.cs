using System.Text;
using DistributedLog.Client;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Examples;

/// <summary>The proxy-client sample of docs/guide.md (the text between <c>#region guide-client</c> and its end is copied there).</summary>
public static class ClientSamples
{
    /// <summary>Writes through a write proxy (one stream, many in flight), then reads the records back.</summary>
    public static async Task RunAsync(string endpoint, string logName, CancellationToken cancellationToken)
    {
        #region guide-client
        // Start from one proxy; the client learns the others, routes each log to its owner and follows redirects.
        await using var client = DistributedLogClient.Create(endpoint);
        try
        {
            await client.CreateLogAsync(logName, cancellationToken);
        }
        catch (LogExistsException)
        {
        }

        // One unary write: the proxy assigns the txid (time-based) and answers once the record is durable.
        LogWriteResult first = await client.WriteAsync(logName, "hello"u8.ToArray(), cancellationToken);
        Console.WriteLine($"wrote at {first.Dlsn} (txid {first.TxId})");

        // A write stream keeps thousands of writes in flight over one gRPC stream; acknowledgements arrive in order.
        await using (var stream = client.OpenWriteStream(logName))
        {
            var writes = Enumerable.Range(0, 1000).Select(i => stream.WriteAsync(Encoding.UTF8.GetBytes($"event {i}"))).ToList();
            foreach (var write in writes)
            {
                await write; // a failure here names the record; later ones fail as cancelled, nothing is resent
            }
        }

        // Reads go through any proxy: from a DLSN, a txid or a subscriber; Follow = true keeps tailing.
        await foreach (LogRecordWithDlsn record in client.ReadAsync(logName, new ClientReadOptions { From = first.Dlsn, Count = 3 }, cancellationToken))
        {
            Console.WriteLine($"{record.Dlsn} txid {record.TxId}: {Encoding.UTF8.GetString(record.Payload.Span)}");
        }

        LogDescription description = await client.DescribeLogAsync(logName, cancellationToken);
        Console.WriteLine($"{description.RecordCount} records, last DLSN {description.LastDlsn}, owner {description.Owner}");
        #endregion
    }
}
