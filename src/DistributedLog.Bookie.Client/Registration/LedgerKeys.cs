using System.Globalization;

namespace DistributedLog.Bookie.Registration;

/// <summary>
/// Where ledger metadata lives in the metadata store (written by the ledger client, read by bookies' garbage collection):
/// <code>
/// ledgers/&lt;id, 19 digits&gt;   the ledger's metadata (JSON)
/// </code>
/// Ids are zero-padded to 19 digits so the keys list in id order.
/// </summary>
public static class LedgerKeys
{
    /// <summary>Prefix of ledger metadata keys.</summary>
    public const string Prefix = "ledgers/";

    /// <summary>The first key after every ledger key (the end of the <see cref="Prefix"/> range, exclusive).</summary>
    public const string PrefixEnd = "ledgers0";

    /// <summary>Key of a ledger's metadata.</summary>
    /// <param name="ledgerId">The ledger id (not negative).</param>
    public static string Ledger(long ledgerId) => Prefix + ledgerId.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>Parses a key made by <see cref="Ledger"/>; false for any other key (a different prefix or not a 19-digit id).</summary>
    /// <param name="key">The key, relative to the store's root.</param>
    /// <param name="ledgerId">The ledger id, when the key is a ledger key.</param>
    public static bool TryParse(string key, out long ledgerId)
    {
        ArgumentNullException.ThrowIfNull(key);
        ledgerId = -1;
        if (!key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length != Prefix.Length + 19)
        {
            return false;
        }

        return long.TryParse(key.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ledgerId);
    }
}
