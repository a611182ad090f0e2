using DistributedLog.Namespaces;
using DistributedLog.Protocol.Records;
using DistributedLog.Readers;

namespace DistributedLog.Proxy.Reads;

/// <summary>
/// One read call's reader of a log: it takes records from the log's shared cache (<see cref="LogFanout"/>) while attached,
/// and reads alone (its own <see cref="LogReader"/>, from just after the last record it delivered) when it could not attach
/// at its start position or fell out of the cache window, attaching again once it has caught up. Either way it returns the
/// records a reader of its own would, in order, once each; reads behave as <see cref="LogReader.ReadBulkAsync(int, CancellationToken)"/>.
/// </summary>
internal sealed class FanoutReader : IAsyncDisposable
{
    private readonly ReadFanout _owner;
    private readonly LogFanout _fanout;
    private readonly LogManager _log;
    private readonly ReadPosition _start;
    private LogReader? _own;
    private long _ownCounted;
    private Dlsn? _last;
    private int _disposed;

    public FanoutReader(ReadFanout owner, LogFanout fanout, LogManager log, ReadPosition start)
    {
        _owner = owner;
        _fanout = fanout;
        _log = log;
        _start = start;
    }

    /// <summary>Whether the reader reads alone now (not from the shared cache).</summary>
    public bool ReadsAlone => _own is not null;

    // Position in the fan-out's window and the start filter: guarded by the fan-out's lock.
    internal long NextIndex { get; set; }

    internal Dlsn MinDlsn { get; set; }

    internal long MinTxId { get; set; }

    internal bool Skipping { get; set; }

    /// <summary>Opens a reader of its own at the start position (the window did not cover it).</summary>
    public async Task ReadAloneFromStartAsync(string reason, CancellationToken cancellationToken)
    {
        _owner.ReadingAlone(reason);
        _own = await _log.OpenReaderAsync(_start, cancellationToken: cancellationToken);
    }

    /// <summary>Returns up to <paramref name="max"/> records, waiting only when none is available.</summary>
    public async Task<IReadOnlyList<LogRecordWithDlsn>> ReadAsync(int max, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_own is { } own)
            {
                IReadOnlyList<LogRecordWithDlsn> batch;
                try
                {
                    batch = await own.ReadBulkAsync(max, cancellationToken);
                }
                finally
                {
                    CountOwnEntries(own);
                }

                _owner.CountRecords(fromCache: false, batch.Count);
                _last = batch[^1].Dlsn;
                if (_fanout.TryRejoin(this, _last.Value.Next()))
                {
                    _owner.Rejoined();
                    _own = null;
                    await own.DisposeAsync();
                    CountOwnEntries(own);
                }

                return batch;
            }

            var records = new List<LogRecordWithDlsn>(Math.Min(max, 256));
            switch (_fanout.Take(this, max, records, out var wait, out var terminal))
            {
                case TakeOutcome.Records:
                    _last = records[^1].Dlsn;
                    _owner.CountRecords(fromCache: true, records.Count);
                    return records;
                case TakeOutcome.Wait:
                    await wait.WaitAsync(cancellationToken);
                    break;
                case TakeOutcome.Ended:
                    throw terminal!;
                default:
                    _owner.ReadingAlone(_fanout.IsBroken ? "shared_failed" : "behind");
                    _ownCounted = 0;
                    _own = await _log.OpenReaderAsync(_last is { } last ? ReadPosition.FromDlsn(last.Next()) : _start, cancellationToken: cancellationToken);
                    break;
            }
        }
    }

    /// <summary>Detaches from the cache, closes its own reader, and lets the fan-out go when it was the last reader.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _fanout.Detach(this);
        try
        {
            if (_own is { } own)
            {
                _own = null;
                await own.DisposeAsync();
                CountOwnEntries(own);
            }
        }
        finally
        {
            _owner.Release(_fanout);
        }
    }

    private void CountOwnEntries(LogReader own)
    {
        long read = own.EntriesRead;
        _owner.CountEntries(shared: false, read - _ownCounted);
        _ownCounted = read;
    }
}
