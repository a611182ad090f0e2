using System.Net;
using DistributedLog.Client;
using DistributedLog.Protocol.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace DistributedLog.Proxy.Tests.Services;

/// <summary>A write to a proxy that does not answer within the call timeout has an unknown outcome: it is never resent.</summary>
public sealed class ClientTimeoutTests
{
    [Fact]
    public async Task AUnaryWriteThatTimedOutIsNotResent()
    {
        // An HTTP/2 server that takes every Write call and never answers (a frozen proxy that already received it).
        int received = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        app.MapPost("/distributedlog.v1.DistributedLogProxy/Write", async context =>
        {
            Interlocked.Increment(ref received);
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        await app.StartAsync();
        string endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        await using var client = DistributedLogClient.Create(new DistributedLogClientOptions
        {
            Endpoints = [endpoint],
            DiscoverProxies = false,
            CallTimeout = TimeSpan.FromSeconds(2),
            RetryBudget = TimeSpan.FromSeconds(15),
        });
        var error = await Assert.ThrowsAsync<DlException>(() => client.WriteAsync("log", "x"u8.ToArray()));
        Assert.Equal(StatusCode.FlushTimeout, error.Code);
        Assert.Contains("outcome is unknown", error.Message, StringComparison.Ordinal);
        // Once at most (a loaded machine may time the call out before it reaches the server); it was sent again and
        // again (8 times within the retry budget) before writes of unknown outcome stopped being retried.
        Assert.InRange(Volatile.Read(ref received), 0, 1);
        await app.StopAsync();
    }
}
