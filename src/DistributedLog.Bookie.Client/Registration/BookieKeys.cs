namespace DistributedLog.Bookie.Registration;

/// <summary>
/// Where bookies appear in the metadata store:
/// <code>
/// bookies/available/&lt;bookieId&gt;   registration, bound to the bookie's lease (vanishes when it stops or dies)
/// bookies/cookies/&lt;bookieId&gt;     cookie: binds the id to one set of data directories (durable)
/// bookies/draining/&lt;bookieId&gt;    the bookie is being decommissioned: never chosen for new copies (durable)
/// </code>
/// </summary>
public static class BookieKeys
{
    /// <summary>Prefix of the registrations of live bookies.</summary>
    public const string AvailablePrefix = "bookies/available/";

    /// <summary>Prefix of the cookies.</summary>
    public const string CookiesPrefix = "bookies/cookies/";

    /// <summary>Prefix of every bookie key (registrations, cookies, draining markers).</summary>
    public const string Prefix = "bookies/";

    /// <summary>Prefix of the draining markers (<c>dlog admin decommission</c>).</summary>
    public const string DrainingPrefix = "bookies/draining/";

    /// <summary>Key of a bookie's draining marker.</summary>
    public static string Draining(string bookieId) => DrainingPrefix + bookieId;

    /// <summary>Key of a bookie's registration.</summary>
    public static string Available(string bookieId) => AvailablePrefix + bookieId;

    /// <summary>Key of a bookie's cookie.</summary>
    public static string Cookie(string bookieId) => CookiesPrefix + bookieId;
}
