using DistributedLog.Hosting;
using Microsoft.Extensions.Configuration;

namespace DistributedLog.Tests.Hosting;

/// <summary>The placement settings of an application's DistributedLog options: binding, validation, hand-over to the ledger client.</summary>
public sealed class PlacementOptionsTests
{
    [Fact]
    public void Min_racks_and_rack_bind_validate_and_reach_the_ledger_client()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["DistributedLog:MetadataUri"] = "etcd://10.0.0.1:2379/prod",
                ["DistributedLog:MinRacksPerWriteSet"] = "2",
                ["DistributedLog:MinRegionsPerWriteSet"] = "3",
                ["DistributedLog:Rack"] = "/east/r1",
            })
            .Build();
        var options = configuration.GetSection(DistributedLogOptions.SectionName).Get<DistributedLogOptions>()!;
        Assert.Empty(options.GetValidationErrors());
        var ledgers = options.ToLedgerClientOptions();
        Assert.Equal(2, ledgers.MinRacksPerWriteSet);
        Assert.Equal(3, ledgers.MinRegionsPerWriteSet);
        Assert.Equal("/east/r1", ledgers.Rack);

        options.MinRacksPerWriteSet = 0;
        options.Rack = "east-r1";
        var errors = options.GetValidationErrors();
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("MinRacksPerWriteSet must be positive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Rack: A rack must be written /REGION/RACK", StringComparison.Ordinal));
    }
}
