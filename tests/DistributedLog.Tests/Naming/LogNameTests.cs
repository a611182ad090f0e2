using CsCheck;
using DistributedLog.Naming;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Tests.Naming;

public class LogNameTests
{
    [Theory]
    [InlineData("orders", "orders")]
    [InlineData("/orders", "orders")]
    [InlineData("orders/eu/2026", "orders/eu/2026")]
    [InlineData("a.b-c_d", "a.b-c_d")]
    [InlineData("ünïcödé/日本", "ünïcödé/日本")]
    [InlineData("emoji-😀", "emoji-😀")]
    public void Valid_names_are_normalized(string name, string expected) => Assert.Equal(expected, LogName.Validate(name));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/", "empty")]
    [InlineData(".hidden", "may not start with '.'")]
    [InlineData("<default>", "may not start with '<'")]
    [InlineData("orders/", "may not end with '/'")]
    [InlineData("a//b", "empty path component")]
    [InlineData("a/./b", "'.' path component")]
    [InlineData("a/../b", "'..' path component")]
    [InlineData("a b", "space")]
    [InlineData("a<b", "'<'")]
    [InlineData("a>b", "'>'")]
    [InlineData("a\0b", "NUL")]
    [InlineData("a\tb", "control")]
    public void Invalid_names_are_refused_with_the_reason(string name, string reason)
    {
        var error = Assert.Throws<InvalidStreamNameException>(() => LogName.Validate(name));
        Assert.Equal(StatusCode.InvalidStreamName, error.Code);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlong_null_and_lone_surrogate_names_are_refused()
    {
        // Built in code: test data passing through the runner would replace a lone surrogate.
        string loneSurrogate = "a" + (char)0xD800 + "b";
        Assert.Contains("lone surrogate", Assert.Throws<InvalidStreamNameException>(() => LogName.Validate(loneSurrogate)).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidStreamNameException>(() => LogName.Validate(new string('a', LogName.MaxLength + 1)));
        Assert.Throws<InvalidStreamNameException>(() => LogName.Validate(null));
    }

    [Fact]
    public void Encoding_round_trips_keeps_prefixes_and_never_contains_a_slash() =>
        Gen.String[Gen.Char['\u0020', '\u007e'], 0, 40].Sample(name =>
        {
            string encoded = LogName.Encode(name);
            Assert.DoesNotContain('/', encoded);
            Assert.Equal(name, LogName.Decode(encoded));
            if (name.Length > 3)
            {
                Assert.StartsWith(LogName.Encode(name[..3]), encoded, StringComparison.Ordinal);
            }
        });
}
