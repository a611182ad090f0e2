using Xunit;

namespace DistributedLog.Testing;

/// <summary>
/// A <see cref="FactAttribute"/> for tests that need root (mounting a tmpfs, network namespaces, nft rules): run as
/// root it is an ordinary fact, which must then work; otherwise the test is reported as skipped with the reason — it
/// never passes without having run.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <summary>Creates the attribute; <paramref name="why"/> says what root is needed for.</summary>
    public RootFactAttribute(string why = "it needs root")
    {
        if (!IsRoot)
        {
            Skip = $"Not running as root: {why}.";
        }
    }

    /// <summary>Whether this process runs with root privileges (on Linux).</summary>
    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess;
}
