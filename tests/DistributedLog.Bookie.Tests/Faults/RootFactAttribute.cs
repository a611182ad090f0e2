namespace DistributedLog.Bookie.Tests.Faults;

/// <summary>A fact that needs root (to mount a tmpfs): skipped with that reason otherwise, never passed without running.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            Skip = "Needs root: the test mounts a small tmpfs to fill a real disk.";
        }
    }
}

/// <summary>A theory that needs root (to mount a tmpfs): skipped with that reason otherwise.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            Skip = "Needs root: the test mounts a small tmpfs to fill a real disk.";
        }
    }
}
