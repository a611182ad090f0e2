using System.Text;
using CsCheck;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Tests;

public class DlsnTests
{
    private static readonly Gen<long> AnyLong = Gen.OneOf(
        Gen.Long,
        Gen.Long[-3, 20],
        Gen.OneOfConst(long.MinValue, long.MaxValue, 0L, -1L));

    private static readonly Gen<Dlsn> AnyDlsn = Gen.Select(AnyLong, AnyLong, AnyLong, (a, b, c) => new Dlsn(a, b, c));

    [Fact]
    public void Constants_match_DistributedLog()
    {
        Assert.Equal(new Dlsn(1, 0, 0), Dlsn.Initial);
        Assert.Equal(new Dlsn(1, 0, -1), Dlsn.NonInclusiveLowerBound);
        Assert.Equal(new Dlsn(0, -1, -1), Dlsn.Invalid);
        Assert.True(Dlsn.NonInclusiveLowerBound < Dlsn.Initial);
        Assert.True(Dlsn.Invalid < Dlsn.NonInclusiveLowerBound);
        Assert.Equal(25, Dlsn.SerializedSize);
    }

    [Fact]
    public void Next_and_next_segment()
    {
        var d = new Dlsn(3, 17, 4);
        Assert.Equal(new Dlsn(3, 17, 5), d.Next());
        Assert.Equal(new Dlsn(4, 0, 0), d.PositionOnTheNextSegment());
        Assert.True(d < d.Next());
        Assert.True(d.Next() < d.PositionOnTheNextSegment());
    }

    [Fact]
    public void Text_form_is_colon_separated()
    {
        Assert.Equal("3:17:0", new Dlsn(3, 17, 0).ToString());
        Assert.Equal("1:0:-1", Dlsn.NonInclusiveLowerBound.ToString());
        Assert.Equal(new Dlsn(3, 17, 0), Dlsn.Parse("3:17:0"));
        Assert.Equal(Dlsn.Invalid, Dlsn.Parse("0:-1:-1"));
    }

    [Fact]
    public void Base64_form_matches_DistributedLog_vectors()
    {
        Assert.Equal("AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA==", Dlsn.Initial.ToBase64());
        Assert.Equal("AQAAAAAAAAADAAAAAAAAABEAAAAAAAAAAA==", new Dlsn(3, 17, 0).ToBase64());
        Assert.Equal(new Dlsn(3, 17, 0), Dlsn.Parse("AQAAAAAAAAADAAAAAAAAABEAAAAAAAAAAA=="));
        // URL-safe alphabet and missing padding are accepted too.
        Assert.Equal(new Dlsn(-1, -2, -3), Dlsn.Parse("Af____________________7__________Q=="));
        Assert.Equal(new Dlsn(-1, -2, -3), Dlsn.Parse("Af____________________7__________Q"));
        Assert.Equal("AQAAAAAAAAADAAAAAAAAABEAAAAAAAAAAA==", new Dlsn(3, 17, 0).ToString("B", null));
    }

    [Fact]
    public void Binary_round_trip() =>
        AnyDlsn.Sample(d =>
        {
            Span<byte> bytes = stackalloc byte[Dlsn.SerializedSize];
            d.WriteTo(bytes);
            Assert.Equal(1, bytes[0]);
            Assert.True(Dlsn.TryRead(bytes, out Dlsn back));
            Assert.Equal(d, back);
            Assert.Equal(d, Dlsn.FromBytes(d.ToBytes()));
        }, iter: 2000);

    [Fact]
    public void Text_and_base64_round_trip() =>
        AnyDlsn.Sample(d =>
        {
            string text = d.ToString();
            Assert.Equal($"{d.LogSegmentSequenceNo}:{d.EntryId}:{d.SlotId}", text);
            Assert.Equal(d, Dlsn.Parse(text));
            Assert.Equal(d, Dlsn.Parse(d.ToBase64()));
            Assert.Equal(d, Dlsn.Parse(Encoding.UTF8.GetBytes(text)));
            Assert.Equal(d, Dlsn.Parse(Encoding.UTF8.GetBytes(d.ToBase64())));
            Assert.True(Dlsn.TryParse(text.AsSpan(), out Dlsn viaSpan));
            Assert.Equal(d, viaSpan);

            Span<char> chars = stackalloc char[Dlsn.MaxTextLength];
            Assert.True(d.TryFormat(chars, out int n));
            Assert.Equal(text, chars[..n].ToString());
            Span<byte> utf8 = stackalloc byte[Dlsn.MaxTextLength];
            Assert.True(d.TryFormat(utf8, out int m));
            Assert.Equal(text, Encoding.ASCII.GetString(utf8[..m]));
            Assert.False(d.TryFormat(chars[..(n - 1)], out _));
            Assert.False(d.TryFormat(utf8[..(m - 1)], out _));
        }, iter: 2000);

    [Fact]
    public void Ordering_is_tuple_ordering() =>
        Gen.Select(AnyDlsn, AnyDlsn).Sample((a, b) =>
        {
            int expected = (a.LogSegmentSequenceNo, a.EntryId, a.SlotId).CompareTo((b.LogSegmentSequenceNo, b.EntryId, b.SlotId));
            Assert.Equal(Math.Sign(expected), Math.Sign(a.CompareTo(b)));
            Assert.Equal(expected < 0, a < b);
            Assert.Equal(expected <= 0, a <= b);
            Assert.Equal(expected > 0, a > b);
            Assert.Equal(expected >= 0, a >= b);
            Assert.Equal(expected == 0, a == b);
            Assert.Equal(expected != 0, a != b);
            Assert.Equal(expected == 0, a.Equals(b));
            Assert.Equal(-Math.Sign(expected), Math.Sign(b.CompareTo(a)));
        }, iter: 2000);

    [Fact]
    public void Equal_dlsns_have_equal_hashes()
    {
        Assert.Equal(new Dlsn(5, 6, 7).GetHashCode(), new Dlsn(5, 6, 7).GetHashCode());
        Assert.True(new Dlsn(5, 6, 7).Equals((object)new Dlsn(5, 6, 7)));
        Assert.Equal(1, new Dlsn(5, 6, 7).CompareTo(null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("1:2")]
    [InlineData("1:2:3:4")]
    [InlineData(" 1:2:3")]
    [InlineData("1:2:3 ")]
    [InlineData("1::3")]
    [InlineData("a:b:c")]
    [InlineData("1:2:99999999999999999999")]
    [InlineData("1.0:2:3")]
    [InlineData("AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA=")] // bad padding
    [InlineData("AgAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA==")] // version 2
    [InlineData("AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAA")] // 24 bytes
    [InlineData("AQAAAAAAAAABAAAAAAAA AAAAAAAAAAAAAA==")] // white space
    [InlineData("AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAA=")] // too long
    [InlineData("not a dlsn")]
    public void Parse_rejects_bad_text_and_names_it(string text)
    {
        Assert.False(Dlsn.TryParse(text, out _));
        Assert.False(Dlsn.TryParse(Encoding.UTF8.GetBytes(text), out _));
        var ex = Assert.Throws<FormatException>(() => Dlsn.Parse(text));
        Assert.Contains($"'{text}'", ex.Message);
        Assert.Contains("lssn:entry:slot", ex.Message);
    }

    [Fact]
    public void Parse_null_throws_argument_null()
    {
        Assert.Throws<ArgumentNullException>(() => Dlsn.Parse((string)null!));
        Assert.False(Dlsn.TryParse((string?)null, out _));
    }

    [Fact]
    public void Parse_rejects_random_strings() =>
        Gen.String.Sample(s =>
        {
            if (Dlsn.TryParse(s, out Dlsn d))
            {
                // Anything accepted must be one of the two canonical-ish forms of the same value.
                Assert.True(Dlsn.Parse(d.ToString()) == d);
            }
            else
            {
                Assert.Throws<FormatException>(() => Dlsn.Parse(s));
            }
        }, iter: 2000);

    [Fact]
    public void TryRead_rejects_wrong_length_or_version()
    {
        byte[] good = new Dlsn(1, 2, 3).ToBytes();
        Assert.False(Dlsn.TryRead(good.AsSpan(0, 24), out _));
        Assert.False(Dlsn.TryRead([.. good, 0], out _));
        Assert.False(Dlsn.TryRead([], out _));
        byte[] v0 = (byte[])good.Clone();
        v0[0] = 0;
        Assert.False(Dlsn.TryRead(v0, out _));
        Assert.Throws<FormatException>(() => Dlsn.FromBytes(v0));
        Assert.Throws<ArgumentException>(() => Dlsn.Initial.WriteTo(new byte[24]));
    }

    [Fact]
    public void Unknown_format_is_refused()
    {
        Assert.False(Dlsn.Initial.TryFormat(new char[100], out _, "X"));
        Assert.Throws<FormatException>(() => Dlsn.Initial.ToString("X", null));
        Assert.Equal("1:0:0", $"{Dlsn.Initial}");
        Assert.Equal("1:0:0", Dlsn.Initial.ToString("G", null));
    }
}
