using System.Collections;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DistributedLog.Cli.Commands;

/// <summary>
/// Settings of the server commands (<c>dlog bookie | proxy | sandbox</c>) from three places, in this precedence:
/// <list type="number">
/// <item>flags on the command line;</item>
/// <item>environment variables <c>DLOG_&lt;COMMAND&gt;_&lt;FLAG&gt;</c> (upper case, dashes as underscores:
/// <c>DLOG_BOOKIE_LOST_BOOKIE_DELAY_SECONDS=10</c>);</item>
/// <item>a JSON configuration file (<c>--config FILE</c> or <c>DLOG_CONFIG</c>) with one object per command whose keys are
/// the flags without dashes, in kebab or camel case: <c>{"bookie": {"data": "/var/lib/dlog", "lostBookieDelaySeconds": 10}}</c>;</item>
/// <item>the flags' defaults.</item>
/// </list>
/// Values from the environment and the file become flags before parsing, so every flag is validated the same way
/// wherever it came from. Unknown keys, unknown commands and values that are not strings, numbers or booleans are
/// refused with the file and key named. The effective configuration is printed to stderr when the server is ready (just
/// before its ready line), secrets masked.
/// </summary>
internal static class ServerConfiguration
{
    /// <summary>Where one setting came from.</summary>
    public sealed record Setting(string Flag, string? Value, string Source);

    /// <summary>The <c>--config</c> option every server command carries (read before parsing).</summary>
    public static Option<string?> ConfigOption() => new("--config")
    {
        Description = "JSON configuration file ({\"bookie\": {\"data\": …}, \"proxy\": {…}}); flags and DLOG_<COMMAND>_<FLAG> variables override it (default: $DLOG_CONFIG).",
    };

    /// <summary>
    /// Returns <paramref name="args"/> with the settings of the environment and the configuration file added as flags,
    /// and where each added setting came from. Arguments of other commands are returned unchanged.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration file is unreadable or names something unknown.</exception>
    public static (string[] Args, IReadOnlyList<Setting> Added) Expand(RootCommand root, string[] args, IDictionary environment)
    {
        if (args.Length == 0 || !ServerRun.IsServerCommand(args[0]) || root.Subcommands.FirstOrDefault(c => c.Name == args[0]) is not { } command)
        {
            return (args, []);
        }

        var options = command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--config" && !o.Hidden)
            .ToDictionary(o => o.Name[2..], StringComparer.Ordinal);
        var given = GivenFlags(args);
        string? configFile = ConfigFile(args) ?? (environment["DLOG_CONFIG"] as string is { Length: > 0 } fromEnvironment ? fromEnvironment : null);
        var fromFile = configFile is null ? new Dictionary<string, string>() : ReadSection(configFile, command.Name, options.Keys);

        var expanded = new List<string>(args);
        var added = new List<Setting>();
        foreach (var (flag, option) in options)
        {
            if (given.Contains("--" + flag) || option.Aliases.Any(given.Contains))
            {
                continue;
            }

            string variable = $"DLOG_{command.Name.ToUpperInvariant()}_{flag.ToUpperInvariant().Replace('-', '_')}";
            if (environment[variable] is string value)
            {
                added.Add(new Setting(flag, value, $"env {variable}"));
            }
            else if (fromFile.TryGetValue(flag, out string? configured))
            {
                added.Add(new Setting(flag, configured, $"config {configFile}"));
            }
            else
            {
                continue;
            }

            expanded.Add("--" + flag);
            expanded.Add(added[^1].Value!);
        }

        return ([.. expanded], added);
    }

    private sealed record Remembered(ParseResult Parsed, IReadOnlyList<Setting> Added);

    private static Remembered? s_remembered;

    /// <summary>Keeps the parsed command line of a server command for <see cref="PrintRemembered"/>.</summary>
    public static void Remember(ParseResult parsed, IReadOnlyList<Setting> added) => s_remembered = new Remembered(parsed, added);

    /// <summary>Prints the remembered configuration once (when the server is ready: a refused argument stays one line).</summary>
    public static void PrintRemembered(TextWriter output)
    {
        if (Interlocked.Exchange(ref s_remembered, null) is { } remembered)
        {
            Print(remembered.Parsed, remembered.Added, output);
        }
    }

    /// <summary>Prints every flag of the command with its value and where it came from (flag, env, config or default), secrets masked.</summary>
    public static void Print(ParseResult parsed, IReadOnlyList<Setting> added, TextWriter output)
    {
        var command = parsed.CommandResult.Command;
        var fromSources = added.ToDictionary(s => s.Flag, s => s.Source, StringComparer.Ordinal);
        var text = new StringBuilder($"dlog {command.Name}: effective configuration\n");
        foreach (var option in command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && !o.Hidden && o.Name is not ("--help" or "--version")))
        {
            string flag = option.Name[2..];
            var result = parsed.GetResult(option);
            string source = fromSources.TryGetValue(flag, out string? s) ? s : result is { Implicit: false } ? "flag" : "default";
            object? value = result?.GetValueOrDefault<object?>();
            text.Append(CultureInfo.InvariantCulture, $"  {flag} = {Mask(flag, Format(value))}  ({source})\n");
        }

        output.Write(text.ToString());
        output.Flush();
    }

    private static string Format(object? value) => value switch
    {
        null => "(none)",
        FileSystemInfo path => path.FullName,
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Hides secrets: values of flags named like secrets, and the password of a URI's user information.</summary>
    internal static string Mask(string flag, string value)
    {
        if (flag.Contains("token", StringComparison.OrdinalIgnoreCase) || flag.Contains("password", StringComparison.OrdinalIgnoreCase)
            || flag.Contains("secret", StringComparison.OrdinalIgnoreCase) || flag.EndsWith("key", StringComparison.OrdinalIgnoreCase))
        {
            return value == "(none)" ? value : "***";
        }

        return DistributedLog.Metadata.MetadataStores.Redact(value);
    }

    private static HashSet<string> GivenFlags(string[] args)
    {
        var given = new HashSet<string>(StringComparer.Ordinal);
        foreach (string arg in args.Skip(1).TakeWhile(a => a != "--"))
        {
            if (arg.StartsWith('-'))
            {
                int equals = arg.IndexOf('=', StringComparison.Ordinal);
                given.Add(equals > 0 ? arg[..equals] : arg);
            }
        }

        return given;
    }

    private static string? ConfigFile(string[] args)
    {
        for (int i = 1; i < args.Length && args[i] != "--"; i++)
        {
            if (args[i] == "--config")
            {
                return i + 1 < args.Length ? args[i + 1] : throw new ArgumentException("--config needs a file.");
            }

            if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                return args[i]["--config=".Length..];
            }
        }

        return null;
    }

    /// <summary>The command's section of the file, keys normalized to flag names.</summary>
    private static Dictionary<string, string> ReadSection(string path, string commandName, IEnumerable<string> flags)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new ArgumentException($"Configuration file '{path}' cannot be read: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"Configuration file '{path}' must hold a JSON object with one object per command (\"bookie\", \"proxy\", \"sandbox\").");
            }

            var known = flags.ToHashSet(StringComparer.Ordinal);
            var section = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!ServerRun.IsServerCommand(property.Name))
                {
                    throw new ArgumentException($"Configuration file '{path}': '{property.Name}' is not a server command (bookie, proxy or sandbox).");
                }

                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    throw new ArgumentException($"Configuration file '{path}': '{property.Name}' must be an object of flag names and values.");
                }

                if (property.Name != commandName)
                {
                    continue;
                }

                foreach (var setting in property.Value.EnumerateObject())
                {
                    string flag = Kebab(setting.Name.TrimStart('-'));
                    if (!known.Contains(flag))
                    {
                        throw new ArgumentException($"Configuration file '{path}': {commandName}.{setting.Name} is not an option of `dlog {commandName}`.");
                    }

                    section[flag] = setting.Value.ValueKind switch
                    {
                        JsonValueKind.String => setting.Value.GetString()!,
                        JsonValueKind.Number => setting.Value.GetRawText(),
                        JsonValueKind.True => "true",
                        JsonValueKind.False => "false",
                        _ => throw new ArgumentException($"Configuration file '{path}': {commandName}.{setting.Name} must be a string, number or boolean."),
                    };
                }
            }

            return section;
        }
    }

    /// <summary><c>lostBookieDelaySeconds</c> → <c>lost-bookie-delay-seconds</c>; kebab names are kept.</summary>
    internal static string Kebab(string name)
    {
        var kebab = new StringBuilder(name.Length + 8);
        foreach (char c in name)
        {
            if (char.IsUpper(c))
            {
                if (kebab.Length > 0)
                {
                    kebab.Append('-');
                }

                kebab.Append(char.ToLowerInvariant(c));
            }
            else
            {
                kebab.Append(c == '_' ? '-' : c);
            }
        }

        return kebab.ToString();
    }
}
