using System.Globalization;

namespace DistributedLog.Cli.Chaos.Faults;

/// <summary>
/// One scheduled fault: what, on which targets, when (since the start of the run) and for how long; <paramref name="Variant"/>
/// is drawn from the seed for kinds that need more choices (how <see cref="FaultKind.TornJournal"/> tears the tail).
/// </summary>
internal sealed record Fault(int Id, TimeSpan At, FaultKind Kind, IReadOnlyList<string> Targets, TimeSpan Duration, int Variant = 0)
{
    /// <summary>When the fault ends (the target is restarted, resumed, reconnected or freed).</summary>
    public TimeSpan Until => At + Duration;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Id,-3} {At.TotalSeconds,7:F1}s..{Until.TotalSeconds,7:F1}s {Kind,-19} {string.Join(",", Targets)}");
}
