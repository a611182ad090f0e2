using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace DistributedLog.Protocol.Records;

/// <summary>
/// DistributedLog sequence number: the position of one record in a log, as
/// (log segment sequence number, entry id, slot id). Ordered lexicographically in that order.
/// </summary>
/// <remarks>
/// <para>Binary form (DistributedLog's version 1): one version byte (1) followed by the three numbers as
/// big-endian 64-bit integers, <see cref="SerializedSize"/> = 25 bytes in all.</para>
/// <para>Text forms: <c>"lssn:entry:slot"</c> (for example <c>"3:17:0"</c>, what <see cref="ToString()"/> gives), or
/// the base64 of the binary form (<see cref="ToBase64"/>, what DistributedLog's proxy returns). Parsing accepts both.</para>
/// </remarks>
public readonly struct Dlsn :
    IEquatable<Dlsn>,
    IComparable<Dlsn>,
    IComparable,
    ISpanFormattable,
    IUtf8SpanFormattable,
    ISpanParsable<Dlsn>,
    IUtf8SpanParsable<Dlsn>
{
    /// <summary>Size of the binary form: 1 version byte + 3 × 8 bytes.</summary>
    public const int SerializedSize = 1 + (3 * sizeof(long));

    /// <summary>Version byte of the binary form (DistributedLog's <c>VERSION1</c>).</summary>
    public const byte SerializationVersion = 1;

    /// <summary>Length of the base64 text form (padded standard base64 of <see cref="SerializedSize"/> bytes).</summary>
    public const int Base64Length = 36;

    /// <summary>Longest possible <c>"lssn:entry:slot"</c> text: three 20-character numbers and two colons.</summary>
    public const int MaxTextLength = (3 * 20) + 2;

    /// <summary>Longest text the parser looks at before rejecting the input outright.</summary>
    private const int MaxParseLength = MaxTextLength;

    /// <summary>Creates a DLSN.</summary>
    /// <param name="logSegmentSequenceNo">Sequence number of the log segment (LSSN).</param>
    /// <param name="entryId">Entry id within the segment's ledger.</param>
    /// <param name="slotId">Slot of the record within the entry.</param>
    public Dlsn(long logSegmentSequenceNo, long entryId, long slotId)
    {
        LogSegmentSequenceNo = logSegmentSequenceNo;
        EntryId = entryId;
        SlotId = slotId;
    }

    /// <summary>The first position of any log: (1, 0, 0).</summary>
    public static Dlsn Initial => new(1, 0, 0);

    /// <summary>A position just before <see cref="Initial"/>: (1, 0, -1). Reading "after" it starts at the beginning.</summary>
    public static Dlsn NonInclusiveLowerBound => new(1, 0, -1);

    /// <summary>The invalid position (0, -1, -1), used where no position exists.</summary>
    public static Dlsn Invalid => new(0, -1, -1);

    /// <summary>Sequence number of the log segment (LSSN).</summary>
    public long LogSegmentSequenceNo { get; }

    /// <summary>Entry id within the segment.</summary>
    public long EntryId { get; }

    /// <summary>Slot of the record within the entry.</summary>
    public long SlotId { get; }

    /// <summary>The position of the next slot in the same entry: (lssn, entry, slot + 1).</summary>
    public Dlsn Next() => new(LogSegmentSequenceNo, EntryId, SlotId + 1);

    /// <summary>The first position of the following segment: (lssn + 1, 0, 0).</summary>
    public Dlsn PositionOnTheNextSegment() => new(LogSegmentSequenceNo + 1, 0, 0);

    /// <summary>Deconstructs the DLSN into its three numbers.</summary>
    public void Deconstruct(out long logSegmentSequenceNo, out long entryId, out long slotId)
    {
        logSegmentSequenceNo = LogSegmentSequenceNo;
        entryId = EntryId;
        slotId = SlotId;
    }

    /// <inheritdoc/>
    public int CompareTo(Dlsn other)
    {
        int c = LogSegmentSequenceNo.CompareTo(other.LogSegmentSequenceNo);
        if (c != 0)
        {
            return c;
        }

        c = EntryId.CompareTo(other.EntryId);
        return c != 0 ? c : SlotId.CompareTo(other.SlotId);
    }

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        Dlsn other => CompareTo(other),
        _ => throw new ArgumentException("The object is not a Dlsn.", nameof(obj)),
    };

    /// <inheritdoc/>
    public bool Equals(Dlsn other) =>
        LogSegmentSequenceNo == other.LogSegmentSequenceNo && EntryId == other.EntryId && SlotId == other.SlotId;

    /// <inheritdoc/>
    public override bool Equals([NotNullWhen(true)] object? obj) => obj is Dlsn other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(LogSegmentSequenceNo, EntryId, SlotId);

    /// <summary>Whether two DLSNs are equal.</summary>
    public static bool operator ==(Dlsn left, Dlsn right) => left.Equals(right);

    /// <summary>Whether two DLSNs differ.</summary>
    public static bool operator !=(Dlsn left, Dlsn right) => !left.Equals(right);

    /// <summary>Whether <paramref name="left"/> comes before <paramref name="right"/>.</summary>
    public static bool operator <(Dlsn left, Dlsn right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> comes before or is <paramref name="right"/>.</summary>
    public static bool operator <=(Dlsn left, Dlsn right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> comes after <paramref name="right"/>.</summary>
    public static bool operator >(Dlsn left, Dlsn right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> comes after or is <paramref name="right"/>.</summary>
    public static bool operator >=(Dlsn left, Dlsn right) => left.CompareTo(right) >= 0;

    // ---------------------------------------------------------------- binary form

    /// <summary>Writes the 25-byte binary form (version 1) to the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="SerializedSize"/>.</exception>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < SerializedSize)
        {
            throw new ArgumentException($"A DLSN needs {SerializedSize} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        destination[0] = SerializationVersion;
        BinaryPrimitives.WriteInt64BigEndian(destination[1..], LogSegmentSequenceNo);
        BinaryPrimitives.WriteInt64BigEndian(destination[9..], EntryId);
        BinaryPrimitives.WriteInt64BigEndian(destination[17..], SlotId);
    }

    /// <summary>Returns the 25-byte binary form in a new array.</summary>
    public byte[] ToBytes()
    {
        byte[] bytes = new byte[SerializedSize];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Reads the binary form. Fails unless <paramref name="source"/> is exactly 25 bytes with version byte 1.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Dlsn value)
    {
        if (source.Length != SerializedSize || source[0] != SerializationVersion)
        {
            value = default;
            return false;
        }

        value = new Dlsn(
            BinaryPrimitives.ReadInt64BigEndian(source[1..]),
            BinaryPrimitives.ReadInt64BigEndian(source[9..]),
            BinaryPrimitives.ReadInt64BigEndian(source[17..]));
        return true;
    }

    /// <summary>Reads the binary form.</summary>
    /// <exception cref="FormatException"><paramref name="source"/> is not 25 bytes with version byte 1.</exception>
    public static Dlsn FromBytes(ReadOnlySpan<byte> source)
    {
        if (!TryRead(source, out Dlsn value))
        {
            string version = source.IsEmpty ? "none" : source[0].ToString(CultureInfo.InvariantCulture);
            throw new FormatException(
                $"Not a binary DLSN: expected {SerializedSize} bytes with version byte {SerializationVersion}, " +
                $"got {source.Length} bytes with version byte {version}.");
        }

        return value;
    }

    // ---------------------------------------------------------------- text form

    /// <summary>Returns the base64 of the binary form (DistributedLog's <c>DLSN.serialize()</c>).</summary>
    public string ToBase64()
    {
        Span<byte> bytes = stackalloc byte[SerializedSize];
        WriteTo(bytes);
        return Convert.ToBase64String(bytes);
    }

    /// <summary>Returns <c>"lssn:entry:slot"</c>, for example <c>"3:17:0"</c>.</summary>
    public override string ToString() => ToString(null, null);

    /// <summary>
    /// Formats the DLSN. <paramref name="format"/> null, empty or <c>"G"</c> gives <c>"lssn:entry:slot"</c>;
    /// <c>"B"</c> gives the base64 of the binary form.
    /// </summary>
    public string ToString(string? format, IFormatProvider? formatProvider)
    {
        Span<char> buffer = stackalloc char[MaxTextLength];
        if (!TryFormat(buffer, out int written, format, formatProvider))
        {
            throw new FormatException($"Unknown DLSN format '{format}': use \"G\" (lssn:entry:slot) or \"B\" (base64).");
        }

        return new string(buffer[..written]);
    }

    /// <summary>
    /// Formats the DLSN into <paramref name="destination"/> without allocating. <paramref name="format"/> empty or
    /// <c>"G"</c> gives <c>"lssn:entry:slot"</c>; <c>"B"</c> gives base64. Returns false if the destination is too
    /// small or the format is unknown.
    /// </summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        charsWritten = 0;
        if (IsBase64Format(format))
        {
            Span<byte> bytes = stackalloc byte[SerializedSize];
            WriteTo(bytes);
            return Convert.TryToBase64Chars(bytes, destination, out charsWritten);
        }

        if (!IsGeneralFormat(format))
        {
            return false;
        }

        int total = 0;
        if (!LogSegmentSequenceNo.TryFormat(destination, out int n, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        total += n;
        if (total >= destination.Length)
        {
            return false;
        }

        destination[total++] = ':';
        if (!EntryId.TryFormat(destination[total..], out n, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        total += n;
        if (total >= destination.Length)
        {
            return false;
        }

        destination[total++] = ':';
        if (!SlotId.TryFormat(destination[total..], out n, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        charsWritten = total + n;
        return true;
    }

    /// <summary>
    /// Formats the DLSN as UTF-8 into <paramref name="utf8Destination"/> without allocating; same formats as
    /// <see cref="TryFormat(Span{char}, out int, ReadOnlySpan{char}, IFormatProvider?)"/>.
    /// </summary>
    public bool TryFormat(Span<byte> utf8Destination, out int bytesWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        Span<char> chars = stackalloc char[MaxTextLength];
        if (!TryFormat(chars, out int written, format, provider) || written > utf8Destination.Length)
        {
            bytesWritten = 0;
            return false;
        }

        // The text is pure ASCII: one byte per char.
        for (int i = 0; i < written; i++)
        {
            utf8Destination[i] = (byte)chars[i];
        }

        bytesWritten = written;
        return true;
    }

    /// <summary>Parses <c>"lssn:entry:slot"</c> or the base64 of the binary form.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="s"/> is null.</exception>
    /// <exception cref="FormatException">The text is neither form; the message names the text.</exception>
    public static Dlsn Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan());
    }

    /// <summary>Parses <c>"lssn:entry:slot"</c> or the base64 of the binary form.</summary>
    /// <exception cref="FormatException">The text is neither form; the message names the text.</exception>
    public static Dlsn Parse(ReadOnlySpan<char> s)
    {
        if (!TryParse(s, out Dlsn value))
        {
            throw BadText(s);
        }

        return value;
    }

    /// <summary>Parses UTF-8 <c>"lssn:entry:slot"</c> or the base64 of the binary form.</summary>
    /// <exception cref="FormatException">The text is neither form; the message names the text.</exception>
    public static Dlsn Parse(ReadOnlySpan<byte> utf8Text)
    {
        if (!TryParse(utf8Text, out Dlsn value))
        {
            throw BadText(System.Text.Encoding.UTF8.GetString(utf8Text[..Math.Min(utf8Text.Length, 4 * MaxParseLength)]));
        }

        return value;
    }

    /// <summary>Tries to parse <c>"lssn:entry:slot"</c> or the base64 of the binary form.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, out Dlsn result)
    {
        if (s is null)
        {
            result = default;
            return false;
        }

        return TryParse(s.AsSpan(), out result);
    }

    /// <summary>Tries to parse <c>"lssn:entry:slot"</c> or the base64 of the binary form, without allocating.</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out Dlsn result)
    {
        result = default;
        if (s.IsEmpty || s.Length > MaxParseLength)
        {
            return false;
        }

        return s.Contains(':') ? TryParseColonForm(s, out result) : TryParseBase64(s, out result);
    }

    /// <summary>Tries to parse UTF-8 <c>"lssn:entry:slot"</c> or the base64 of the binary form, without allocating.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8Text, out Dlsn result)
    {
        result = default;
        if (utf8Text.IsEmpty || utf8Text.Length > MaxParseLength)
        {
            return false;
        }

        // Both forms are ASCII; anything else is rejected by the char parser's alphabet checks.
        Span<char> chars = stackalloc char[MaxParseLength];
        for (int i = 0; i < utf8Text.Length; i++)
        {
            byte b = utf8Text[i];
            if (b >= 0x80)
            {
                return false;
            }

            chars[i] = (char)b;
        }

        return TryParse(chars[..utf8Text.Length], out result);
    }

    /// <inheritdoc/>
    public static Dlsn Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Dlsn result) => TryParse(s, out result);

    /// <inheritdoc/>
    public static Dlsn Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc/>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out Dlsn result) => TryParse(s, out result);

    /// <inheritdoc/>
    public static Dlsn Parse(ReadOnlySpan<byte> utf8Text, IFormatProvider? provider) => Parse(utf8Text);

    /// <inheritdoc/>
    public static bool TryParse(ReadOnlySpan<byte> utf8Text, IFormatProvider? provider, out Dlsn result) => TryParse(utf8Text, out result);

    private static bool TryParseColonForm(ReadOnlySpan<char> s, out Dlsn result)
    {
        result = default;
        int first = s.IndexOf(':');
        int second = s[(first + 1)..].IndexOf(':');
        if (second < 0)
        {
            return false;
        }

        second += first + 1;
        const NumberStyles Style = NumberStyles.AllowLeadingSign;
        if (!long.TryParse(s[..first], Style, CultureInfo.InvariantCulture, out long lssn)
            || !long.TryParse(s[(first + 1)..second], Style, CultureInfo.InvariantCulture, out long entryId)
            || !long.TryParse(s[(second + 1)..], Style, CultureInfo.InvariantCulture, out long slotId))
        {
            // A third colon lands in the slot part and fails there.
            return false;
        }

        result = new Dlsn(lssn, entryId, slotId);
        return true;
    }

    private static bool TryParseBase64(ReadOnlySpan<char> s, out Dlsn result)
    {
        result = default;

        // Accept standard and URL-safe alphabets, padded or not (DistributedLog decodes both). Checked by hand,
        // because Convert's decoder would also skip white space.
        int end = s.Length;
        while (end > 0 && s[end - 1] == '=')
        {
            end--;
        }

        if (s.Length - end > 2 || end > Base64Length)
        {
            return false;
        }

        Span<char> normalized = stackalloc char[Base64Length];
        for (int i = 0; i < end; i++)
        {
            char c = s[i];
            if (c == '-')
            {
                c = '+';
            }
            else if (c == '_')
            {
                c = '/';
            }
            else if (!char.IsAsciiLetterOrDigit(c) && c != '+' && c != '/')
            {
                return false;
            }

            normalized[i] = c;
        }

        // Padding is either absent or complete.
        int padded = (end + 3) & ~3;
        if (padded != Base64Length || (s.Length != end && s.Length != padded))
        {
            return false;
        }

        normalized[end..padded].Fill('=');
        Span<byte> bytes = stackalloc byte[Base64Length];
        return Convert.TryFromBase64Chars(normalized, bytes, out int length) && TryRead(bytes[..length], out result);
    }

    private static FormatException BadText(ReadOnlySpan<char> s)
    {
        const int Shown = 80;
        string shown = s.Length > Shown ? string.Concat(s[..Shown], "…") : s.ToString();
        return new FormatException(
            $"'{shown}' is not a DLSN: expected \"lssn:entry:slot\" with three integers (for example \"3:17:0\") " +
            $"or the base64 of the {SerializedSize}-byte binary form (version {SerializationVersion}).");
    }

    private static bool IsGeneralFormat(ReadOnlySpan<char> format) =>
        format.IsEmpty || (format.Length == 1 && (format[0] == 'G' || format[0] == 'g'));

    private static bool IsBase64Format(ReadOnlySpan<char> format) =>
        format.Length == 1 && (format[0] == 'B' || format[0] == 'b');
}
