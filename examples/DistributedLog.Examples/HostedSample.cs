using System.Text;
using DistributedLog.Hosting;
using DistributedLog.Namespaces;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Examples;

/// <summary>Guide: "Dependency injection in a hosted app" (started by <c>Program</c> with <c>--hosted</c>).</summary>
public static class HostedSample
{
    /// <summary>Builds and runs the host until Ctrl-C.</summary>
    public static async Task RunAsync(string[] args)
    {
        #region guide-hosting
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);

        // Binds the "DistributedLog" section (appsettings.json, environment DistributedLog__MetadataUri=..., command line
        // --DistributedLog:MetadataUri=...) and validates it when the host starts.
        builder.Services.AddDistributedLog(builder.Configuration.GetSection(DistributedLogOptions.SectionName));
        builder.Services.AddHostedService<OrderEventsConsumer>();

        using IHost host = builder.Build();
        await host.RunAsync(); // disposing the host closes the namespace
        #endregion
    }

    /// <summary>Guide: options set in code instead of configuration.</summary>
    public static IServiceCollection ConfigureInCode(IServiceCollection services)
    {
        #region guide-hosting-code
        services.AddDistributedLog(o =>
        {
            o.MetadataUri = "etcd://10.0.0.1:2379,10.0.0.2:2379/dl";
            o.Namespace = "orders";
            o.Compression = CompressionCodec.Lz4;
            o.Retention = TimeSpan.FromDays(7);
        });
        #endregion
        return services;
    }
}

#region guide-hosting-consumer
/// <summary>Follows "orders/events" as subscriber "order-consumer", committing after each record.</summary>
public sealed partial class OrderEventsConsumer(IDistributedLogNamespaceProvider distributedLog, ILogger<OrderEventsConsumer> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Opened on first use, shared by every service of the app.
        DistributedLogNamespace ns = await distributedLog.GetNamespaceAsync(stoppingToken);
        try
        {
            await ns.CreateLogAsync("orders/events", stoppingToken);
        }
        catch (LogExistsException)
        {
            // Created earlier.
        }

        LogManager log = ns.OpenLog("orders/events");

        await using SubscriberReader subscriber = await log.OpenSubscriberReaderAsync(
            "order-consumer", distributedLog.ReaderOptions, cancellationToken: stoppingToken);
        await foreach (LogRecordWithDlsn record in subscriber.Reader.WithCancellation(stoppingToken))
        {
            LogOrderEvent(record.Dlsn, Encoding.UTF8.GetString(record.Payload.Span));
            await log.Subscriptions.AdvanceAsync("order-consumer", record.Dlsn, stoppingToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Order event at {Dlsn}: {Payload}")]
    private partial void LogOrderEvent(Dlsn dlsn, string payload);
}
#endregion
