using System.Globalization;

namespace DistributedLog.Cli.Chaos.Faults;

/// <summary>One scheduled fault: what, on which targets, when (since the start of the run) and for how long.</summary>
internal sealed record Fault(int Id, TimeSpan At, FaultKind Kind, IReadOnlyList<string> Targets, TimeSpan Duration)
{
    /// <summary>When the fault ends (the target is restarted, resumed, reconnected or freed).</summary>
    public TimeSpan Until => At + Duration;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Id,-3} {At.TotalSeconds,7:F1}s..{Until.TotalSeconds,7:F1}s {Kind,-19} {string.Join(",", Targets)}");
}
