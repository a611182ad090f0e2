using System.Text;
using DistributedLog.Client;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>Payloads and whole-log reads shared by the proxy tests.</summary>
internal static class ProxyTestRecords
{
    public static byte[] Payload(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(LogRecordWithDlsn record) => Encoding.UTF8.GetString(record.Payload.Span);

    /// <summary>Every record of the log through the client, from the start to the end (60 s at most).</summary>
    public static async Task<List<LogRecordWithDlsn>> ReadAllAsync(DistributedLogClient client, string log, ClientReadOptions? options = null)
    {
        var records = new List<LogRecordWithDlsn>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var record in client.ReadAsync(log, options).WithCancellation(timeout.Token))
        {
            records.Add(record);
        }

        return records;
    }
}
