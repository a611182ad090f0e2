namespace DistributedLog.Ledgers.Handles;

/// <summary>One entry read from a ledger; its checksum was verified.</summary>
/// <param name="LedgerId">The ledger.</param>
/// <param name="EntryId">The entry.</param>
/// <param name="Payload">The entry's payload.</param>
/// <param name="LastAddConfirmed">The writer's LAC when it wrote this entry (piggybacked).</param>
/// <param name="Packaged">The whole packaged entry as stored (header, checksum, payload).</param>
public sealed record LedgerEntry(long LedgerId, long EntryId, ReadOnlyMemory<byte> Payload, long LastAddConfirmed, ReadOnlyMemory<byte> Packaged);
