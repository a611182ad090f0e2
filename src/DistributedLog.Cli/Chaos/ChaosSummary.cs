using System.Text.Json;
using DistributedLog.Cli.Chaos.Faults;

namespace DistributedLog.Cli.Chaos;

/// <summary>What a chaos run reports: one JSON object with <c>--json</c>, else a few lines.</summary>
internal sealed record ChaosSummary
{
    public required int Seed { get; init; }

    public required double DurationSeconds { get; init; }

    /// <summary>Writes begun.</summary>
    public int Operations { get; init; }

    public int Acknowledged { get; init; }

    public int Failed { get; init; }

    public int Unknown { get; init; }

    /// <summary>Faults injected.</summary>
    public int Faults { get; init; }

    public IReadOnlyDictionary<FaultKind, int> FaultsByKind { get; init; } = new Dictionary<FaultKind, int>();

    /// <summary>Fault kinds this machine cannot inject (and why).</summary>
    public IReadOnlyList<string> SkippedFaultKinds { get; init; } = [];

    public int Violations { get; init; }

    public IReadOnlyDictionary<ViolationKind, int> ViolationsByKind { get; init; } = new Dictionary<ViolationKind, int>();

    /// <summary>Seconds from the end of the faults until a write had succeeded on every log (null: not healed).</summary>
    public double? HealSeconds { get; init; }

    public int HungWrites { get; init; }

    /// <summary>Workloads that ended with an unexpected exception (reported on stderr).</summary>
    public int WorkloadErrors { get; init; }

    public int ReaderSessions { get; init; }

    /// <summary>Records in the logs at the end (final reads).</summary>
    public int Records { get; init; }

    public string? WorkDirectory { get; init; }

    public string? Error { get; init; }

    public void WriteJson(Stream stdout)
    {
        using (var w = new Utf8JsonWriter(stdout))
        {
            w.WriteStartObject();
            w.WriteNumber("seed", Seed);
            w.WriteNumber("durationSeconds", DurationSeconds);
            w.WriteNumber("operations", Operations);
            w.WriteNumber("acknowledged", Acknowledged);
            w.WriteNumber("failed", Failed);
            w.WriteNumber("unknown", Unknown);
            w.WriteNumber("faults", Faults);
            w.WriteStartObject("faultsByKind");
            foreach (var (kind, n) in FaultsByKind.OrderBy(k => k.Key))
            {
                w.WriteNumber(kind.ToString(), n);
            }

            w.WriteEndObject();
            w.WriteStartArray("skippedFaultKinds");
            foreach (string s in SkippedFaultKinds)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
            w.WriteNumber("violations", Violations);
            w.WriteStartObject("violationsByKind");
            foreach (var (kind, n) in ViolationsByKind.OrderBy(k => k.Key))
            {
                w.WriteNumber(kind.ToString(), n);
            }

            w.WriteEndObject();
            if (HealSeconds is { } heal)
            {
                w.WriteNumber("healSeconds", Math.Round(heal, 3));
            }
            else
            {
                w.WriteNull("healSeconds");
            }

            w.WriteNumber("hungWrites", HungWrites);
            w.WriteNumber("workloadErrors", WorkloadErrors);
            w.WriteNumber("readerSessions", ReaderSessions);
            w.WriteNumber("records", Records);
            if (WorkDirectory is not null)
            {
                w.WriteString("workDirectory", WorkDirectory);
            }

            if (Error is not null)
            {
                w.WriteString("error", Error);
            }

            w.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
        stdout.Flush();
    }

    public override string ToString() =>
        $"seed {Seed}: {Operations} writes ({Acknowledged} acknowledged, {Failed} failed, {Unknown} unknown), {Faults} faults " +
        $"({string.Join(", ", FaultsByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}), " +
        $"healed in {(HealSeconds is { } h ? $"{h:F1} s" : "never")}, {ReaderSessions} reader sessions, {Records} records at the end: " +
        (Violations == 0 ? "no violations" : $"{Violations} VIOLATIONS ({string.Join(", ", ViolationsByKind.Select(k => $"{k.Key} {k.Value}"))})") +
        (SkippedFaultKinds.Count > 0 ? $"; not injected here: {string.Join("; ", SkippedFaultKinds)}" : "") +
        (Error is null ? "" : $"; error: {Error}");
}
