using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DistributedLog.Ledgers;
using DistributedLog.Ledgers.Handles;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Metadata;
using DistributedLog.Protocol.Errors;
using DistributedLog.Testing;
using Xunit.Abstractions;

namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>
/// A 3-member etcd cluster loses its quorum (two members frozen with SIGSTOP): an open ledger keeps taking entries (no
/// metadata change needed), creating a ledger fails with a retryable error, no bookie crashes; after the members resume,
/// the bookies are registered again and creating and writing a ledger works (issue 9, section 2).
/// </summary>
public sealed class EtcdQuorumTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Writes_to_an_open_ledger_continue_without_an_etcd_quorum_and_metadata_operations_resume_after_it_heals()
    {
        await using var etcd = await EtcdCluster.StartAsync(3);
        string uri = $"etcd://{string.Join(',', etcd.Endpoints)}/t-{Guid.NewGuid():N}";
        await using var store = await MetadataStores.OpenAsync(uri, new MetadataStoreOptions { OperationTimeout = TimeSpan.FromSeconds(2) });
        var bookies = Enumerable.Range(0, 3).Select(i => new BookieProcess(TestEntries.TempDirectory($"quorum-{i}"), "--metadata", uri,
            "--journal-file-mb", "8", "--write-cache-mb", "8", "--log-level", "Warning")).ToList();
        try
        {
            await Task.WhenAll(bookies.Select(b => b.StartAsync()));
            await using var registry = await MetadataBookieRegistry.StartAsync(store);
            await registry.WaitForBookiesAsync(3, TimeSpan.FromSeconds(30));
            // A generous bookie timeout: on a loaded machine a slow add must not turn into an ensemble change, which needs
            // the metadata this test takes away.
            await using var client = new LedgerClient(new MetadataLedgerStore(store), registry, new LedgerClientOptions { BookieTimeout = TimeSpan.FromSeconds(20) });
            await using var ledger = await client.CreateLedgerAsync(3, 3, 2);
            long next = 0;
            for (; next < 10; next++)
            {
                Assert.Equal(next, await ledger.AddEntryAsync(Encoding.UTF8.GetBytes($"before {next}")));
            }

            etcd.Pause(1);
            etcd.Pause(2);
            try
            {
                // Longer than the bookies' 5 s registration leases: they lose them meanwhile.
                var clock = Stopwatch.StartNew();
                while (clock.Elapsed < TimeSpan.FromSeconds(8))
                {
                    Assert.Equal(next, await ledger.AddEntryAsync(Encoding.UTF8.GetBytes($"during {next}")));
                    next++;
                    await Task.Delay(50);
                }

                var refused = await Assert.ThrowsAnyAsync<DlException>(() => client.CreateLedgerAsync(3, 3, 2));
                output.WriteLine($"create during the outage: {refused.Code} {refused.Message}");
                Assert.True(refused.IsRetryable, refused.ToString());
                Assert.All(bookies, b => Assert.True(b.IsRunning, b.Output));
            }
            finally
            {
                etcd.Resume(1);
                etcd.Resume(2);
            }

            var healed = Stopwatch.StartNew();
            LedgerHandle? after = null;
            while (after is null)
            {
                try
                {
                    after = await client.CreateLedgerAsync(3, 3, 2);
                }
                catch (DlException e) when ((e.IsRetryable || e.Code == StatusCode.NotEnoughBookies) && healed.Elapsed < TimeSpan.FromSeconds(45))
                {
                    // etcd elects a leader, expires the bookies' old leases (they leave the registry) and takes their new
                    // registrations: until then a create may find too few bookies.
                    output.WriteLine($"{healed.Elapsed.TotalSeconds:0.0} s: {e.Code} {e.Message}");
                    await Task.Delay(250);
                }
            }

            output.WriteLine($"metadata operations work again after {healed.Elapsed.TotalSeconds:0.0} s");
            await ledger.CloseAsync();
            await using (after)
            {
                Assert.Equal(0, await after.AddEntryAsync("after the outage"u8.ToArray()));
                await after.CloseAsync();
            }

            var reader = await client.OpenLedgerAsync(ledger.LedgerId);
            var entries = await reader.ReadAsync(0, next - 1);
            Assert.Equal(next, entries.Count);
            Assert.All(bookies, b => Assert.True(b.IsRunning, b.Output));
            // Every bookie registers again under a new lease. A create can succeed before that (old registrations whose
            // leases etcd has not expired yet still count), so wait for it rather than expecting it at this instant.
            var registering = Stopwatch.StartNew();
            while ((await store.ListAsync(Registration.BookieKeys.AvailablePrefix)).Count != 3)
            {
                Assert.True(registering.Elapsed < TimeSpan.FromSeconds(30), "the bookies did not all register again within 30 s");
                await Task.Delay(250);
            }
            output.WriteLine($"all three bookies registered {healed.Elapsed.TotalSeconds:0.0} s after the heal");
        }
        finally
        {
            foreach (var bookie in bookies)
            {
                await bookie.DisposeAsync();
            }
        }
    }

}
