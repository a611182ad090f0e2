namespace DistributedLog.Ledgers.Placement;

/// <summary>
/// Where a bookie (or a client) sits in the network: a region and a rack inside it, written <c>/REGION/RACK</c>
/// (BookKeeper's network location). Bookies registered without one count as <see cref="Default"/>.
/// </summary>
/// <param name="Region">The region (a data centre, an availability zone).</param>
/// <param name="Rack">The rack inside the region.</param>
public sealed record NetworkLocation(string Region, string Rack)
{
    /// <summary>The path of <see cref="Default"/>: <c>/default-region/default-rack</c>.</summary>
    public const string DefaultPath = "/default-region/default-rack";

    /// <summary>The location of a bookie that did not announce one.</summary>
    public static NetworkLocation Default { get; } = new("default-region", "default-rack");

    /// <summary>The <c>/REGION/RACK</c> form.</summary>
    public string Path => $"/{Region}/{Rack}";

    /// <inheritdoc />
    public override string ToString() => Path;

    /// <summary>Parses <c>/REGION/RACK</c>: two levels, each non-empty, without spaces or control characters.</summary>
    /// <exception cref="ArgumentException">The path is not of that form (the message says why).</exception>
    public static NetworkLocation Parse(string path) =>
        TryParse(path, out var location, out string? error) ? location : throw new ArgumentException(error);

    /// <summary>Parses <c>/REGION/RACK</c>; false (with the reason in <paramref name="error"/>) when it is not of that form.</summary>
    public static bool TryParse(string? path, out NetworkLocation location, out string? error)
    {
        location = Default;
        error = null;
        if (string.IsNullOrEmpty(path))
        {
            error = $"A rack must be written /REGION/RACK (for example {DefaultPath}); got an empty value.";
            return false;
        }

        string[] parts = path.Split('/');
        if (parts.Length != 3 || parts[0].Length != 0 || parts[1].Length == 0 || parts[2].Length == 0)
        {
            error = $"A rack must be written /REGION/RACK with two non-empty levels (for example {DefaultPath}); got '{path}'.";
            return false;
        }

        if (path.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = $"A rack must not contain spaces or control characters; got '{path}'.";
            return false;
        }

        location = new NetworkLocation(parts[1], parts[2]);
        return true;
    }
}

/// <summary>A bookie as placement sees it: its id and its location.</summary>
/// <param name="Id">The bookie id (<c>host:port</c>).</param>
/// <param name="Location">Its rack and region.</param>
public readonly record struct BookieNode(string Id, NetworkLocation Location);
