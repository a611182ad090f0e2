using DistributedLog.Bookie.Wire;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Client;

/// <summary>Outcome of an add on one bookie.</summary>
/// <param name="Status">Success, or why it failed (<c>LedgerFenced</c>, <c>BookieReadOnly</c>, <c>BookieUnavailable</c>, <c>Timeout</c>, …).</param>
/// <param name="LedgerId">The ledger.</param>
/// <param name="EntryId">The entry.</param>
public readonly record struct BookieAddResult(StatusCode Status, long LedgerId, long EntryId);

/// <summary>Outcome of a read (or long-poll read, or fencing read) on one bookie.</summary>
/// <param name="Status">Success, <c>NoSuchEntry</c>, <c>NoSuchLedger</c>, <c>ChecksumFailed</c>, <c>Timeout</c> (long poll), …</param>
/// <param name="LedgerId">The ledger.</param>
/// <param name="EntryId">The entry read (for entry id -1: the last entry's id).</param>
/// <param name="Lac">The ledger's last-add-confirmed as the bookie knows it.</param>
/// <param name="Entry">The packaged entry (empty unless <paramref name="Status"/> is success); its checksum was verified.</param>
public readonly record struct BookieReadResult(StatusCode Status, long LedgerId, long EntryId, long Lac, ReadOnlyMemory<byte> Entry);

/// <summary>Outcome of a LAC read or a fence on one bookie.</summary>
/// <param name="Status">Success or why it failed.</param>
/// <param name="Lac">Highest last-add-confirmed the bookie saw piggybacked.</param>
/// <param name="LastEntryId">Highest entry id the bookie stores for the ledger.</param>
public readonly record struct BookieLacResult(StatusCode Status, long Lac, long LastEntryId);

/// <summary>What a ping found.</summary>
/// <param name="Status">Success or why it failed.</param>
/// <param name="State">Writable or read-only.</param>
public readonly record struct BookiePingResult(StatusCode Status, BookieState State);

/// <summary>
/// Receives the outcome of an add sent with <see cref="BookieClient.AddEntry"/>. Called on the connection's receive
/// loop or timer (or a pool thread): keep it short and never block.
/// </summary>
public interface IBookieAddCallback
{
    /// <summary>The add finished with <paramref name="result"/>; <paramref name="state"/> is what the sender passed.</summary>
    void OnAddComplete(in BookieAddResult result, object? state);
}
