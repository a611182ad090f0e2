using DistributedLog.Metadata.Etcd;
using DistributedLog.Metadata.Sqlite;

namespace DistributedLog.Metadata;

/// <summary>Opens a metadata store from a URI that picks the backend.</summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>file:///absolute/path/meta.db</c>: the embedded <see cref="SqliteMetadataStore"/> (the directory is created
/// if needed).</item>
/// <item><c>etcd://host:port[,host:port...]/root</c>: <see cref="EtcdMetadataStore"/> on those members, keys under
/// <c>/root/</c> (port 2379 when omitted).</item>
/// </list>
/// </remarks>
public static class MetadataStores
{
    /// <summary>The URI forms accepted, for messages.</summary>
    public const string SupportedForms = "file:///absolute/path/meta.db (embedded SQLite) or etcd://host:port[,host:port...]/root (etcd)";

    private const int DefaultEtcdPort = 2379;

    /// <summary>Opens the store that <paramref name="uri"/> names.</summary>
    /// <param name="uri">The store's URI.</param>
    /// <param name="options">Settings; defaults when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <returns>The open store; dispose it when done.</returns>
    /// <exception cref="ArgumentException">The URI is malformed or its scheme is not supported.</exception>
    /// <exception cref="MetadataStoreException">The store cannot be opened or reached.</exception>
    public static ValueTask<IMetadataStore> OpenAsync(Uri uri, MetadataStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        // A Uri made from a local path keeps the bare path as its original string.
        return OpenAsync(uri.IsAbsoluteUri && uri.IsFile ? uri.AbsoluteUri : uri.OriginalString, options, cancellationToken);
    }

    /// <summary>Opens the store that <paramref name="uri"/> names.</summary>
    /// <param name="uri">The store's URI.</param>
    /// <param name="options">Settings; defaults when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <returns>The open store; dispose it when done.</returns>
    /// <exception cref="ArgumentException">The URI is malformed or its scheme is not supported.</exception>
    /// <exception cref="MetadataStoreException">The store cannot be opened or reached.</exception>
    public static async ValueTask<IMetadataStore> OpenAsync(string uri, MetadataStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
            return SqliteMetadataStore.Open(ParseFileUri(uri), options);
        if (uri.StartsWith("etcd:", StringComparison.OrdinalIgnoreCase))
        {
            (IReadOnlyList<string> endpoints, string root) = ParseEtcdUri(uri);
            return await EtcdMetadataStore.ConnectAsync(endpoints, root, options, cancellationToken);
        }
        throw Bad(uri, "its scheme is not supported");
    }

    /// <summary>The file path of a <c>file:</c> URI.</summary>
    internal static string ParseFileUri(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out Uri? parsed) || !parsed.IsFile)
            throw Bad(uri, "it is not a valid file URI");
        if (!parsed.IsLoopback && parsed.Host.Length > 0)
            throw Bad(uri, $"it names host '{parsed.Host}'; an embedded store is a local file (use three slashes: file:///path)");
        // file://localhost/x parses as a UNC path; its absolute path is the local one.
        string path = parsed.IsUnc ? Uri.UnescapeDataString(parsed.AbsolutePath) : parsed.LocalPath;
        if (path.Length == 0 || path.EndsWith('/') || path.EndsWith('\\'))
            throw Bad(uri, "it names a directory, not a database file");
        return path;
    }

    /// <summary>The endpoints (<c>host:port</c>) and root of an <c>etcd://</c> URI.</summary>
    internal static (IReadOnlyList<string> Endpoints, string Root) ParseEtcdUri(string uri)
    {
        const string scheme = "etcd://";
        if (!uri.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            throw Bad(uri, "an etcd URI starts with etcd://");
        string rest = uri[scheme.Length..];
        if (rest.AsSpan().IndexOfAny('?', '#') >= 0)
            throw Bad(uri, "an etcd URI takes no query or fragment");
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string authority = slash < 0 ? rest : rest[..slash];
        string root = slash < 0 ? "" : Uri.UnescapeDataString(rest[(slash + 1)..]).Trim('/');
        if (authority.Length == 0)
            throw Bad(uri, "it names no etcd endpoint (etcd://host:port/root)");
        if (authority.Contains('@', StringComparison.Ordinal))
            throw Bad(uri, "etcd user names and passwords in the URI are not supported yet (etcd authentication is not implemented)");
        var endpoints = new List<string>();
        foreach (string part in authority.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0)
                throw Bad(uri, "it has an empty endpoint in its host list");
            endpoints.Add(NormalizeEndpoint(uri, part));
        }
        return (endpoints, root);
    }

    private static string NormalizeEndpoint(string uri, string endpoint)
    {
        string host;
        string? port;
        if (endpoint.StartsWith('['))
        {
            int close = endpoint.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
                throw Bad(uri, $"endpoint '{endpoint}' has an unclosed IPv6 bracket");
            host = endpoint[..(close + 1)];
            string after = endpoint[(close + 1)..];
            port = after.Length == 0 ? null : after.StartsWith(':') ? after[1..] : throw Bad(uri, $"endpoint '{endpoint}' is not [host]:port");
        }
        else
        {
            int colon = endpoint.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? endpoint : endpoint[..colon];
            port = colon < 0 ? null : endpoint[(colon + 1)..];
        }
        if (host.Length == 0 || host == "[]")
            throw Bad(uri, $"endpoint '{endpoint}' has no host");
        int number = DefaultEtcdPort;
        if (port is not null && (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number)
            || number is <= 0 or > 65535))
        {
            throw Bad(uri, $"endpoint '{endpoint}' has an invalid port");
        }
        return $"{host}:{number.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    private static ArgumentException Bad(string uri, string why) =>
        new($"Cannot open metadata store '{Redact(uri)}': {why}. Supported: {SupportedForms}.", nameof(uri));

    /// <summary>
    /// The URI with the password of its user information hidden (<c>etcd://user:***@host:2379/root</c>), for logs and
    /// messages; a URI without one is returned as is.
    /// </summary>
    public static string Redact(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        int scheme = uri.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0)
            return uri;
        int authorityStart = scheme + 3;
        int authorityEnd = uri.IndexOf('/', authorityStart);
        string authority = authorityEnd < 0 ? uri[authorityStart..] : uri[authorityStart..authorityEnd];
        int at = authority.LastIndexOf('@');
        int colon = at < 0 ? -1 : authority.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || colon > at)
            return uri;
        return string.Concat(uri.AsSpan(0, authorityStart + colon + 1), "***", uri.AsSpan(authorityStart + at));
    }
}
