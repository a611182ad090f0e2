using System.Text.Json;
using System.Text.Json.Serialization;
using DistributedLog.Bookie.IO;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Bookie.Registration;

/// <summary>
/// A bookie's cookie (as in BookKeeper): an instance id created when the bookie first starts on empty directories,
/// written into each of its data directories and into the metadata store. On every start they must agree: a bookie
/// whose disk was wiped (local cookie missing, metadata cookie present) is refused, because it would otherwise come
/// back empty under the same id while ledgers believe it holds their entries.
/// </summary>
/// <param name="BookieId">The bookie id.</param>
/// <param name="InstanceId">Random id of this incarnation of the bookie's data.</param>
/// <param name="JournalDirectory">The journal directory it was created with.</param>
/// <param name="LedgerDirectory">The ledger directory it was created with.</param>
/// <param name="CreatedAt">When.</param>
public sealed record BookieCookie(string BookieId, string InstanceId, string JournalDirectory, string LedgerDirectory, DateTimeOffset CreatedAt)
{
    /// <summary>File name of the local copy in each data directory.</summary>
    public const string FileName = "COOKIE";

    /// <summary>Reads the local copy from <paramref name="directory"/>, or null if there is none.</summary>
    public static BookieCookie? ReadLocal(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), BookieCookieJson.Default.BookieCookie)
                ?? throw new InvalidDataException("empty cookie");
        }
        catch (JsonException e)
        {
            throw new DlException(StatusCode.MetadataException, $"The cookie file '{path}' is corrupt: {e.Message}");
        }
    }

    /// <summary>Writes the local copy durably into <paramref name="directory"/>.</summary>
    public void WriteLocal(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string temp = path + ".tmp";
        File.Delete(temp);
        using (var file = DurableFile.Create(temp, 0, zeroFill: false))
        {
            file.Write(0, Serialize());
            file.Sync();
        }

        File.Move(temp, path, overwrite: true);
        DurableFile.SyncDirectory(directory);
    }

    /// <summary>The JSON form.</summary>
    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, BookieCookieJson.Default.BookieCookie);

    /// <summary>Parses the JSON form.</summary>
    public static BookieCookie Deserialize(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, BookieCookieJson.Default.BookieCookie) ?? throw new InvalidDataException("empty cookie");
}

/// <summary>JSON of cookies (source-generated; unknown fields ignored).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BookieCookie))]
public sealed partial class BookieCookieJson : JsonSerializerContext;
