using System.Globalization;
using DistributedLog.Naming;

namespace DistributedLog.Namespaces;

/// <summary>
/// Where a namespace's logs live in the metadata store. Log names contain <c>/</c>, so each log's name is one encoded
/// key segment (<see cref="LogName.Encode"/>) and each kind of record has its own subtree; listing the logs reads only
/// log records, never segments:
/// <code>
/// dl/&lt;ns&gt;/logs/&lt;log&gt;                       log record (max txid, max LSSN)
/// dl/&lt;ns&gt;/segments/&lt;log&gt;/&lt;lssn:D18&gt;      one per log segment
/// dl/&lt;ns&gt;/locks/&lt;log&gt;                      the writer's ownership, bound to its lease
/// dl/&lt;ns&gt;/subscribers/&lt;log&gt;/&lt;id&gt;          a subscriber's committed position
/// dl/&lt;ns&gt;/readlocks/&lt;log&gt;/&lt;id&gt;            the reader holding a subscriber's read lock, bound to its lease
/// dl/&lt;ns&gt;/proxies/&lt;endpoint&gt;                a write proxy serving the namespace, bound to its lease
/// </code>
/// </summary>
public sealed class NamespaceLayout
{
    /// <summary>Creates the layout of namespace <paramref name="namespaceName"/>.</summary>
    public NamespaceLayout(string namespaceName)
    {
        if (string.IsNullOrEmpty(namespaceName) || namespaceName.Contains('/', StringComparison.Ordinal) || namespaceName.Any(char.IsControl))
        {
            throw new ArgumentException($"Namespace name '{namespaceName}' must be non-empty, without '/' or control characters.", nameof(namespaceName));
        }

        Name = namespaceName;
        Root = $"dl/{namespaceName}/";
        LogsPrefix = Root + "logs/";
    }

    /// <summary>The namespace's name.</summary>
    public string Name { get; }

    /// <summary>Prefix of every key of the namespace.</summary>
    public string Root { get; }

    /// <summary>Prefix of the log records.</summary>
    public string LogsPrefix { get; }

    /// <summary>Key of a log's record.</summary>
    public string Log(string log) => LogsPrefix + LogName.Encode(log);

    /// <summary>Prefix of a log's segments.</summary>
    public string Segments(string log) => Root + "segments/" + LogName.Encode(log) + "/";

    /// <summary>Key of one segment.</summary>
    public string Segment(string log, long lssn) => Segments(log) + lssn.ToString("D18", CultureInfo.InvariantCulture);

    /// <summary>Key of the writer lock.</summary>
    public string Lock(string log) => Root + "locks/" + LogName.Encode(log);

    /// <summary>Prefix of a log's subscribers.</summary>
    public string Subscribers(string log) => Root + "subscribers/" + LogName.Encode(log) + "/";

    /// <summary>Key of a subscriber's committed position.</summary>
    public string Subscriber(string log, string subscriberId) => Subscribers(log) + LogName.Encode(subscriberId);

    /// <summary>Key of a subscriber's read lock.</summary>
    public string ReadLock(string log, string subscriberId) => Root + "readlocks/" + LogName.Encode(log) + "/" + LogName.Encode(subscriberId);

    /// <summary>Prefix of the write proxies' registrations.</summary>
    public string ProxiesPrefix => Root + "proxies/";

    /// <summary>Key of one write proxy's registration (its value is the endpoint).</summary>
    public string Proxy(string endpoint) => ProxiesPrefix + LogName.Encode(endpoint);

    /// <summary>The log name of a key under <see cref="LogsPrefix"/>.</summary>
    public string LogNameOf(string logKey) => LogName.Decode(logKey[LogsPrefix.Length..]);
}
