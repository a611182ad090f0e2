using DistributedLog.Bookie.Client;
using DistributedLog.Bookie.Wire;
using DistributedLog.Ledgers.Metadata;
using DistributedLog.Ledgers.Placement;
using DistributedLog.Protocol.Errors;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Ledgers.Handles;

/// <summary>
/// Reads a ledger without disturbing its writer (open without recovery) or after recovery. Each entry is read from a
/// replica of its write set — the one in the client's own rack first, then its region (<see cref="ReadOrder"/>) — with
/// failover: a replica that errs or returns a corrupt entry (checksum) is skipped and
/// reported, and after <see cref="LedgerClientOptions.SpeculativeReadTimeout"/> the next replica is asked too, first
/// answer wins. A tailing reader reads up to the LAC and long-polls for the next one.
/// </summary>
public sealed class LedgerReader
{
    private readonly LedgerClient _client;
    private readonly ILogger _logger;
    private long _lastAddConfirmed;

    internal LedgerReader(LedgerClient client, Versioned<LedgerMetadata> metadata, ILogger logger)
    {
        _client = client;
        _logger = logger;
        Metadata = metadata.Value;
        MetadataVersion = metadata.Version;
        _lastAddConfirmed = metadata.Value.IsClosed ? metadata.Value.LastEntryId : -1;
    }

    /// <summary>The ledger id.</summary>
    public long LedgerId => Metadata.LedgerId;

    /// <summary>The metadata this reader uses (refreshed by <see cref="RefreshMetadataAsync"/>).</summary>
    public LedgerMetadata Metadata { get; private set; }

    internal long MetadataVersion { get; private set; }

    /// <summary>Whether the ledger is closed (its last entry id is final).</summary>
    public bool IsClosed => Metadata.IsClosed;

    /// <summary>The highest LAC this reader has learned (the closed ledger's last entry once closed).</summary>
    public long LastAddConfirmed => Volatile.Read(ref _lastAddConfirmed);

    /// <summary>Re-reads the ledger's metadata (to see ensemble changes or the close).</summary>
    public async Task RefreshMetadataAsync(CancellationToken cancellationToken = default)
    {
        var fresh = await _client.MetadataStore.ReadAsync(LedgerId, cancellationToken)
            ?? throw new DlException(StatusCode.NoSuchLedger, $"Ledger {LedgerId} no longer exists.");
        Metadata = fresh.Value;
        MetadataVersion = fresh.Version;
        if (fresh.Value.IsClosed)
        {
            RaiseLac(fresh.Value.LastEntryId);
        }
    }

    /// <summary>
    /// Reads entries <paramref name="first"/>..<paramref name="last"/> (inclusive), which must not exceed the LAC
    /// (or the last entry of a closed ledger), pipelining the reads.
    /// </summary>
    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(long first, long last, CancellationToken cancellationToken = default)
    {
        long limit = LastAddConfirmed;
        if (first < 0 || last < first || last > limit)
        {
            throw new DlException(StatusCode.LogReadError,
                $"Cannot read entries {first}..{last} of ledger {LedgerId}: only entries up to the last add confirmed ({limit}) are readable.");
        }

        var reads = new Task<LedgerEntry>[last - first + 1];
        for (long e = first; e <= last; e++)
        {
            reads[e - first] = ReadEntryAsync(e, cancellationToken);
        }

        return await Task.WhenAll(reads);
    }

    /// <summary>
    /// Reads one entry from any replica that holds it (no LAC check: recovery uses it past the LAC). When every replica
    /// failed only transiently (unreachable, timed out, overloaded — e.g. bookies restarting), the round is retried a few
    /// times with a growing pause before the read fails.
    /// </summary>
    /// <exception cref="DlException"><c>NoSuchEntry</c> when no replica has it; <c>ChecksumFailed</c> when every copy is corrupt.</exception>
    public async Task<LedgerEntry> ReadEntryAsync(long entryId, CancellationToken cancellationToken = default)
    {
        var pause = TimeSpan.FromMilliseconds(50);
        bool refreshed = false;
        for (int round = 1; ; round++)
        {
            DlException failure;
            try
            {
                return await ReadEntryOnceAsync(entryId, cancellationToken);
            }
            catch (DlException e) when (e.Code is StatusCode.BookieUnavailable or StatusCode.NoSuchEntry or StatusCode.LogReadError)
            {
                failure = e;
            }

            // The writer may have replaced bookies since this reader loaded the metadata (ensemble change), or — for a
            // closed ledger too — auto-recovery moved the entry's copies off lost bookies: the entry then lives on bookies
            // this reader does not know. Look once, and retry at once if the entry's ensemble moved.
            if (!refreshed)
            {
                refreshed = true;
                var before = Metadata.EnsembleAt(entryId);
                if (await TryRefreshMetadataAsync(cancellationToken) && !before.SequenceEqual(Metadata.EnsembleAt(entryId), StringComparer.Ordinal))
                {
                    _logger.LogDebug("Ledger {Ledger} entry {Entry}: the ensemble changed since the metadata was read; reading from the new one", LedgerId, entryId);
                    round--;
                    continue;
                }
            }

            if (failure.Code != StatusCode.BookieUnavailable || round >= 6)
            {
                throw failure;
            }

            await Task.Delay(pause, cancellationToken);
            pause *= 2;
        }
    }

    private async Task<bool> TryRefreshMetadataAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RefreshMetadataAsync(cancellationToken);
            return true;
        }
        catch (DlException e) when (e.IsRetryable)
        {
            return false;
        }
    }

    private async Task<LedgerEntry> ReadEntryOnceAsync(long entryId, CancellationToken cancellationToken)
    {
        var metadata = Metadata;
        var ensemble = metadata.EnsembleAt(entryId);
        int writeQuorum = metadata.WriteQuorumSize;
        var attempts = new List<Task<BookieReadResult>>(writeQuorum);
        var statuses = new List<string>(writeQuorum);
        // Replicas in the reader's rack first, then its region (LedgerClientOptions.Rack); else the write set's order.
        var order = ReadOrder.Order(ensemble, entryId, writeQuorum, _client.Location, _client.Registry.LocationOf);
        int next = 0;
        Task<BookieReadResult> Send()
        {
            string bookie = ensemble[order[next++]];
            return _client.Bookies.ReadEntryAsync(bookie, LedgerId, entryId, cancellationToken: cancellationToken).AsTask();
        }

        attempts.Add(Send());
        while (attempts.Count > 0)
        {
            Task<BookieReadResult> finished;
            if (next < writeQuorum)
            {
                var delay = Task.Delay(_client.Options.SpeculativeReadTimeout, cancellationToken);
                var any = await Task.WhenAny(attempts.Append(delay));
                if (any == delay)
                {
                    attempts.Add(Send());
                    continue;
                }

                finished = (Task<BookieReadResult>)any;
            }
            else
            {
                finished = await Task.WhenAny(attempts);
            }

            attempts.Remove(finished);
            var result = await finished;
            if (result.Status == StatusCode.Success)
            {
                RaiseLac(PackagedEntry.LastAddConfirmed(result.Entry.Span));
                return ToEntry(result);
            }

            statuses.Add($"{result.Status}");
            if (result.Status == StatusCode.ChecksumFailed)
            {
                _logger.LogError("Ledger {Ledger} entry {Entry}: a replica returned a corrupt copy; trying another", LedgerId, entryId);
            }

            if (attempts.Count == 0 && next < writeQuorum)
            {
                attempts.Add(Send());
            }
        }

        var code = statuses.All(s => s is nameof(StatusCode.NoSuchEntry) or nameof(StatusCode.NoSuchLedger)) ? StatusCode.NoSuchEntry
            : statuses.Contains(nameof(StatusCode.ChecksumFailed)) ? StatusCode.ChecksumFailed
            : statuses.All(s => s is nameof(StatusCode.BookieUnavailable) or nameof(StatusCode.Timeout) or nameof(StatusCode.TooManyRequests)) ? StatusCode.BookieUnavailable
            : StatusCode.LogReadError;
        throw new DlException(code, $"Entry {entryId} of ledger {LedgerId} could not be read from any of its {writeQuorum} replicas ({string.Join(", ", statuses)}).");
    }

    /// <summary>Asks the bookies of the current ensemble for their LAC and returns the highest (without fencing).</summary>
    public async Task<long> ReadLastAddConfirmedAsync(CancellationToken cancellationToken = default)
    {
        if (IsClosed)
        {
            return Metadata.LastEntryId;
        }

        var ensemble = Metadata.CurrentEnsemble;
        var results = await Task.WhenAll(ensemble.Select(b => _client.Bookies.ReadLacAsync(b, LedgerId, cancellationToken).AsTask()));
        foreach (var result in results)
        {
            if (result.Status == StatusCode.Success)
            {
                RaiseLac(result.Lac);
            }
        }

        return LastAddConfirmed;
    }

    /// <summary>
    /// Tailing read of <paramref name="entryId"/>: returns it at once if the LAC already covers it; otherwise long-polls the
    /// bookies of its write set until one reports a LAC that covers it (the entry comes back with the answer, or is read
    /// from another replica) or <paramref name="timeout"/> passes (returns null). Never returns an entry beyond the LAC.
    /// </summary>
    public async Task<LedgerEntry?> WaitForEntryAsync(long entryId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (entryId <= LastAddConfirmed)
        {
            return await ReadEntryAsync(entryId, cancellationToken);
        }

        if (IsClosed)
        {
            return null;
        }

        var metadata = Metadata;
        var ensemble = metadata.EnsembleAt(entryId);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var polls = Enumerable.Range(0, metadata.WriteQuorumSize)
            .Select(k => _client.Bookies.LongPollReadAsync(ensemble[DistributionSchedule.BookieIndex(entryId, k, ensemble.Count)], LedgerId, entryId, timeout, linked.Token).AsTask())
            .ToList();
        try
        {
            while (polls.Count > 0)
            {
                var finished = await Task.WhenAny(polls);
                polls.Remove(finished);
                var result = await finished;
                RaiseLac(result.Lac);
                if (result.Status == StatusCode.Success && result.Lac >= entryId)
                {
                    return ToEntry(result);
                }

                if (LastAddConfirmed >= entryId)
                {
                    // The LAC covers the entry but this replica lacks it: read it from another one.
                    return await ReadEntryAsync(entryId, cancellationToken);
                }
            }

            return null;
        }
        finally
        {
            await linked.CancelAsync();
        }
    }

    internal void RaiseLac(long lac)
    {
        long current = Volatile.Read(ref _lastAddConfirmed);
        while (lac > current)
        {
            long seen = Interlocked.CompareExchange(ref _lastAddConfirmed, lac, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    internal void SetMetadata(Versioned<LedgerMetadata> metadata)
    {
        Metadata = metadata.Value;
        MetadataVersion = metadata.Version;
        if (metadata.Value.IsClosed)
        {
            Volatile.Write(ref _lastAddConfirmed, metadata.Value.LastEntryId);
        }
    }

    private static LedgerEntry ToEntry(BookieReadResult result)
    {
        var span = result.Entry.Span;
        return new LedgerEntry(PackagedEntry.LedgerId(span), PackagedEntry.EntryId(span),
            result.Entry.Slice(PackagedEntry.HeaderSize, span.Length - PackagedEntry.HeaderSize), PackagedEntry.LastAddConfirmed(span), result.Entry);
    }
}
