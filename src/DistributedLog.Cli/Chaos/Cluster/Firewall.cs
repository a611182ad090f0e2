using System.Diagnostics;
using System.Globalization;

namespace DistributedLog.Cli.Chaos.Cluster;

/// <summary>
/// Partitions on loopback: an nft <c>inet</c> table of this run's own (<c>dlchaos_&lt;pid&gt;</c>) with one chain per
/// partition that drops (not refuses) every TCP packet to or from the given ports on <c>lo</c>. The table is deleted at
/// the end, whatever happened.
/// </summary>
internal sealed class Firewall : IAsyncDisposable
{
    private readonly string _table = $"dlchaos_{Environment.ProcessId}";
    private bool _created;

    public string Table => _table;

    /// <summary>Whether nft works here (root, nftables installed).</summary>
    public static async Task<bool> IsAvailableAsync()
    {
        try
        {
            var (code, _) = await RunAsync("list tables");
            return code == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public async Task CreateAsync()
    {
        await CheckAsync($"add table inet {_table}");
        _created = true;
    }

    /// <summary>Starts dropping packets to and from <paramref name="ports"/>; the partition is named <paramref name="name"/>.</summary>
    public async Task DropAsync(string name, IEnumerable<int> ports)
    {
        string set = string.Join(", ", ports.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        await CheckAsync($"add chain inet {_table} {name} {{ type filter hook input priority -10 ; policy accept ; }}");
        await CheckAsync($"add rule inet {_table} {name} iifname \"lo\" tcp dport {{ {set} }} drop");
        await CheckAsync($"add rule inet {_table} {name} iifname \"lo\" tcp sport {{ {set} }} drop");
    }

    /// <summary>Heals the partition <paramref name="name"/>.</summary>
    public async Task HealAsync(string name)
    {
        await CheckAsync($"flush chain inet {_table} {name}");
        await CheckAsync($"delete chain inet {_table} {name}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_created)
        {
            await RunAsync($"delete table inet {_table}");
            _created = false;
        }
    }

    private static async Task CheckAsync(string command)
    {
        var (code, output) = await RunAsync(command);
        if (code != 0)
        {
            throw new InvalidOperationException($"nft {command} failed ({code}): {output.Trim()}");
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string command)
    {
        // nft joins its arguments into one command: passing it whole keeps braces and quotes intact.
        var info = new ProcessStartInfo("nft") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(command);

        using var process = Process.Start(info)!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }
}
