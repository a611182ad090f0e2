using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace DistributedLog.Cli.Bench;

/// <summary>
/// An OpenMessaging Benchmark workload file (OMB's <c>Workload</c> class: the same field names, types and defaults;
/// fields OMB has that this does not use are ignored, as OMB ignores unknown ones). <c>${NAME:-default}</c> is replaced by
/// the environment variable NAME, else the default, as OMB's newer workload files expect of their runner.
/// </summary>
internal sealed partial class OmbWorkload
{
    /// <summary>OMB's <c>MAX_PRODUCER_RATE</c>: a <see cref="ProducerRate"/> this high means as fast as possible.</summary>
    public const double MaxRate = 10_000_000;

    public string? Name { get; set; }

    public int Topics { get; set; }

    public int PartitionsPerTopic { get; set; }

    /// <summary>NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO.</summary>
    public string KeyDistributor { get; set; } = "NO_KEY";

    public int MessageSize { get; set; }

    public string? PayloadFile { get; set; }

    public bool UseRandomizedPayloads { get; set; }

    public double RandomBytesRatio { get; set; }

    public int RandomizedPayloadPoolSize { get; set; }

    public int SubscriptionsPerTopic { get; set; }

    public int ProducersPerTopic { get; set; }

    public int ConsumerPerSubscription { get; set; }

    /// <summary>Messages per second over all producers; 0 (or <see cref="MaxRate"/> and more): as fast as possible.</summary>
    public double ProducerRate { get; set; }

    public double ConsumerBacklogSizeGB { get; set; }

    public double TestDurationMinutes { get; set; }

    public double WarmupDurationMinutes { get; set; } = 1;

    /// <summary>Where the file was read from (payload files are looked up next to it and in its parent folder).</summary>
    [YamlIgnore]
    public string Directory { get; private set; } = ".";

    /// <summary>Reads and checks a workload file.</summary>
    /// <exception cref="ArgumentException">The file is missing, not YAML of a workload, or a field is out of range.</exception>
    public static OmbWorkload Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"workload file '{path}' does not exist.");
        }

        string text = Substitute(File.ReadAllText(path));
        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(CamelCaseNamingConvention.Instance)
            .IgnoreUnmatchedProperties()
            .Build();
        OmbWorkload? workload;
        try
        {
            workload = deserializer.Deserialize<OmbWorkload>(text);
        }
        catch (YamlException e)
        {
            string what = (e.InnerException ?? e).Message.Split('\n')[0];
            throw new ArgumentException($"workload file '{path}' is not a valid OMB workload at line {e.Start.Line}: {what}");
        }

        if (workload is null)
        {
            throw new ArgumentException($"workload file '{path}' is empty.");
        }

        workload.Directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        workload.Validate(path);
        return workload;
    }

    /// <summary>The payloads producers send (OMB: the payload file, or a pool of part-random, part-zero payloads).</summary>
    public byte[][] Payloads()
    {
        if (UseRandomizedPayloads)
        {
            int random = (int)(MessageSize * RandomBytesRatio);
            var pool = new byte[RandomizedPayloadPoolSize][];
            for (int i = 0; i < pool.Length; i++)
            {
                pool[i] = new byte[MessageSize];
                Random.Shared.NextBytes(pool[i].AsSpan(0, random));
            }

            return pool;
        }

        string file = ResolvePayloadFile() ?? throw new ArgumentException(
            $"payloadFile '{PayloadFile}' not found next to the workload file or in its parent folder ({Directory}).");
        byte[] payload = File.ReadAllBytes(file);
        if (payload.Length < sizeof(long) || payload.Length > Protocol.Records.LogRecord.MaxPayloadSize)
        {
            throw new ArgumentException($"payloadFile '{file}' has {payload.Length} bytes: it must have {sizeof(long)}..{Protocol.Records.LogRecord.MaxPayloadSize}.");
        }

        return [payload];
    }

    private string? ResolvePayloadFile()
    {
        if (PayloadFile is null)
        {
            return null;
        }

        string[] candidates = Path.IsPathRooted(PayloadFile)
            ? [PayloadFile]
            : [Path.Combine(Directory, PayloadFile), Path.Combine(Path.GetDirectoryName(Directory) ?? Directory, PayloadFile), Path.GetFullPath(PayloadFile)];
        return candidates.FirstOrDefault(File.Exists);
    }

    private void Validate(string path)
    {
        void Check(bool condition, string message)
        {
            if (!condition)
            {
                throw new ArgumentException($"workload file '{path}': {message}");
            }
        }

        Check(Topics >= 1, $"topics must be at least 1 (got {Topics}).");
        Check(PartitionsPerTopic >= 1, $"partitionsPerTopic must be at least 1 (got {PartitionsPerTopic}).");
        Check((long)Topics * PartitionsPerTopic <= 10_000, $"topics × partitionsPerTopic must be at most 10000 logs (got {(long)Topics * PartitionsPerTopic}).");
        Check(KeyDistributor is "NO_KEY" or "KEY_ROUND_ROBIN" or "RANDOM_NANO", $"keyDistributor must be NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO (got {KeyDistributor}).");
        Check(ProducersPerTopic is >= 1 and <= 1000, $"producersPerTopic must be within 1..1000 (got {ProducersPerTopic}).");
        Check(SubscriptionsPerTopic is >= 0 and <= 1000, $"subscriptionsPerTopic must be within 0..1000 (got {SubscriptionsPerTopic}).");
        Check(SubscriptionsPerTopic == 0 || ConsumerPerSubscription is >= 1 and <= 1000,
            $"consumerPerSubscription must be within 1..1000 (got {ConsumerPerSubscription}).");
        Check(ProducerRate >= 0 && double.IsFinite(ProducerRate), $"producerRate must be 0 (as fast as possible) or a positive number of messages per second (got {ProducerRate}).");
        Check(ConsumerBacklogSizeGB >= 0, $"consumerBacklogSizeGB must not be negative (got {ConsumerBacklogSizeGB}).");
        Check(TestDurationMinutes >= 0 && WarmupDurationMinutes >= 0, "testDurationMinutes and warmupDurationMinutes must not be negative.");
        if (UseRandomizedPayloads)
        {
            Check(MessageSize >= sizeof(long) && MessageSize <= Protocol.Records.LogRecord.MaxPayloadSize,
                $"messageSize must be within {sizeof(long)}..{Protocol.Records.LogRecord.MaxPayloadSize} bytes (got {MessageSize}; the first 8 carry the send time).");
            Check(RandomBytesRatio is >= 0 and <= 1, $"randomBytesRatio must be within 0..1 (got {RandomBytesRatio}).");
            Check(RandomizedPayloadPoolSize is >= 1 and <= 1_000_000, $"randomizedPayloadPoolSize must be within 1..1000000 (got {RandomizedPayloadPoolSize}).");
        }
        else
        {
            Check(PayloadFile is not null, "give payloadFile, or useRandomizedPayloads: true.");
            Check(ResolvePayloadFile() is not null, $"payloadFile '{PayloadFile}' not found next to the workload file or in its parent folder.");
        }
    }

    private static string Substitute(string text) => Placeholder().Replace(text, m =>
        Environment.GetEnvironmentVariable(m.Groups["name"].Value) is { Length: > 0 } value ? value : m.Groups["default"].Value);

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_.]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex Placeholder();
}
