using System.Text;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// A subscriber through the core library: it reads a batch of records, commits its position every few records
/// (<c>Subscriptions.AdvanceAsync</c>), stops, and resumes later — each resume must start just after a committed position.
/// The positions it may have committed are the last commit that succeeded and every later one whose outcome is unknown.
/// </summary>
internal sealed class Subscriber(WorkloadContext context, string name, string log, int seed)
{
    private readonly Random _random = new(seed);
    private List<Dlsn?> _committed = [null];

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await RunSessionAsync(_random.Next(5, 60), TimeSpan.FromSeconds(5), stop);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_random.Next(200, 2000)), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One session: open, read up to <paramref name="count"/> records (stop early after <paramref name="idle"/> without one), commit, close.</summary>
    /// <returns>Whether the session opened.</returns>
    public async Task<bool> RunSessionAsync(int count, TimeSpan idle, CancellationToken stop)
    {
        var manager = context.Namespace.OpenLog(log);
        DistributedLog.Readers.SubscriberReader subscribed;
        try
        {
            subscribed = await manager.OpenSubscriberReaderAsync(name, lockTtl: TimeSpan.FromSeconds(5), cancellationToken: stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            context.Progress($"subscriber {name} on {log} could not open ({e.GetType().Name}: {e.Message}); retrying");
            return false;
        }

        var session = context.History.Open(new ReaderSession(name, log, ReaderStart.Subscriber, context.History.Now) { Committed = [.. _committed] });
        Dlsn? last = null;
        int sinceCommit = 0;
        try
        {
            try
            {
                for (int i = 0; i < count; i++)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    timeout.CancelAfter(idle);
                    var record = await subscribed.Reader.ReadNextAsync(timeout.Token);
                    if (record.IsControl)
                    {
                        i--;
                        continue;
                    }

                    session.Add(new ObservedRecord(record.Dlsn, record.TxId, Encoding.UTF8.GetString(record.Payload.Span)));
                    last = record.Dlsn;
                    if (++sinceCommit >= 5)
                    {
                        await CommitAsync(manager, record.Dlsn);
                        sinceCommit = 0;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Idle, or the run stops: commit what was read and close.
            }
            catch (Exception e)
            {
                context.Progress($"subscriber {name} on {log} failed ({e.GetType().Name}: {e.Message})");
            }

            if (last is { } position && sinceCommit > 0)
            {
                await CommitAsync(manager, position);
            }
        }
        finally
        {
            try
            {
                // Releases the subscriber's read lock (its lease expires anyway if this fails).
                await subscribed.DisposeAsync();
            }
            catch (Exception e)
            {
                context.Progress($"subscriber {name} on {log}: closing the reader failed ({e.GetType().Name}: {e.Message})");
            }
        }

        return true;
    }

    private async Task CommitAsync(Namespaces.LogManager manager, Dlsn position)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await manager.Subscriptions.AdvanceAsync(name, position, timeout.Token);
            _committed = [position];
        }
        catch (Exception e)
        {
            // It may or may not have been stored.
            _committed.Add(position);
            context.Progress($"subscriber {name} on {log}: commit of {position} failed ({e.GetType().Name}: {e.Message})");
        }
    }
}
