namespace DistributedLog.Bookie.Registration;

/// <summary>
/// Where bookies appear in the metadata store:
/// <code>
/// bookies/available/&lt;bookieId&gt;   registration, bound to the bookie's lease (vanishes when it stops or dies)
/// bookies/cookies/&lt;bookieId&gt;     cookie: binds the id to one set of data directories (durable)
/// </code>
/// </summary>
public static class BookieKeys
{
    /// <summary>Prefix of the registrations of live bookies.</summary>
    public const string AvailablePrefix = "bookies/available/";

    /// <summary>Prefix of the cookies.</summary>
    public const string CookiesPrefix = "bookies/cookies/";

    /// <summary>Key of a bookie's registration.</summary>
    public static string Available(string bookieId) => AvailablePrefix + bookieId;

    /// <summary>Key of a bookie's cookie.</summary>
    public static string Cookie(string bookieId) => CookiesPrefix + bookieId;
}
