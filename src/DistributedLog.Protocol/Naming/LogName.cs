using System.Text;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Naming;

/// <summary>
/// Log names, validated as DistributedLog does (<c>DLUtils.validateAndNormalizeName</c>): path-like names such as
/// <c>orders/eu/2026</c>. A leading <c>/</c> is dropped; the name may not be empty, start with <c>.</c> or <c>&lt;</c>
/// (reserved), end with <c>/</c>, contain an empty, <c>.</c> or <c>..</c> component, or contain NUL, <c>&lt;</c>,
/// <c>&gt;</c>, a space, a control character or a lone surrogate. At most <see cref="MaxLength"/> characters.
/// </summary>
public static class LogName
{
    /// <summary>Longest name accepted.</summary>
    public const int MaxLength = 1024;

    /// <summary>Validates <paramref name="name"/> and returns its normal form (without a leading <c>/</c>).</summary>
    /// <exception cref="InvalidStreamNameException">The name breaks a rule; the message says which.</exception>
    public static string Validate(string? name) =>
        TryValidate(name, out string normalized, out string? problem)
            ? normalized
            : throw new InvalidStreamNameException($"Invalid log name '{Printable(name)}': {problem}.");

    /// <summary>Validates without throwing; <paramref name="problem"/> says what is wrong.</summary>
    public static bool TryValidate(string? name, out string normalized, out string? problem)
    {
        normalized = name is not null && name.StartsWith('/') ? name[1..] : name ?? "";
        problem = Check(normalized);
        return problem is null;
    }

    private static string? Check(string name)
    {
        if (name.Length == 0)
        {
            return "it is empty";
        }

        if (name.Length > MaxLength)
        {
            return $"it is {name.Length} characters long, the limit is {MaxLength}";
        }

        if (name[0] is '.' or '<')
        {
            return $"it may not start with '{name[0]}' (reserved)";
        }

        if (name[^1] == '/')
        {
            return "it may not end with '/'";
        }

        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c is '\0' or '<' or '>' or ' ' || char.IsControl(c))
            {
                return $"character {Describe(c)} at position {i} is not allowed";
            }

            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                return $"a lone surrogate at position {i} is not allowed";
            }
        }

        foreach (string component in name.Split('/'))
        {
            if (component.Length == 0)
            {
                return "it has an empty path component ('//')";
            }

            if (component is "." or "..")
            {
                return $"it has a '{component}' path component";
            }
        }

        return null;
    }

    /// <summary>
    /// The name as one key segment: <c>%</c> and <c>/</c> percent-encoded, so a log's keys never collide with another
    /// log's (names contain <c>/</c>) and prefixes of names stay prefixes of encoded names.
    /// </summary>
    public static string Encode(string name) => name.Replace("%", "%25", StringComparison.Ordinal).Replace("/", "%2F", StringComparison.Ordinal);

    /// <summary>Reverses <see cref="Encode"/>.</summary>
    public static string Decode(string encoded) => encoded.Replace("%2F", "/", StringComparison.Ordinal).Replace("%25", "%", StringComparison.Ordinal);

    private static string Describe(char c) => c switch
    {
        ' ' => "' ' (space)",
        '\0' => "NUL",
        _ when char.IsControl(c) => $"U+{(int)c:X4} (control)",
        _ => $"'{c}'",
    };

    private static string Printable(string? name)
    {
        if (name is null)
        {
            return "(null)";
        }

        var builder = new StringBuilder(Math.Min(name.Length, 80));
        foreach (char c in name.Length > 80 ? name[..80] : name)
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return name.Length > 80 ? builder.Append('…').ToString() : builder.ToString();
    }
}
