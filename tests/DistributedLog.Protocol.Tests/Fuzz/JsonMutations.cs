using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace DistributedLog.Fuzzing;

/// <summary>
/// Structural mutations of JSON documents (for metadata decoders): a value anywhere in the tree replaced by null, a value
/// of another type, an out-of-range number, a deep nest, or removed; members added; plus byte-level damage of the text.
/// </summary>
public static class JsonMutations
{
    private static readonly Func<JsonNode?>[] Replacements =
    [
        () => null,
        () => JsonValue.Create(""),
        () => JsonValue.Create("x"),
        () => JsonValue.Create(0),
        () => JsonValue.Create(-1),
        () => JsonValue.Create(long.MaxValue),
        () => JsonValue.Create(long.MinValue),
        () => JsonNode.Parse("1e400"),
        () => JsonNode.Parse("18446744073709551616"),
        () => JsonValue.Create(1.5),
        () => JsonValue.Create(true),
        () => new JsonArray(),
        () => new JsonArray((JsonNode?)null),
        () => new JsonObject(),
        () => JsonValue.Create("AAAA"),
        () => JsonValue.Create("2026-13-45T99:99:99Z"),
        () => JsonNode.Parse(new string('[', 40) + new string(']', 40)),
    ];

    /// <summary>Mutated documents: structural (mostly) or byte-level damage of the serialized text.</summary>
    public static Gen<byte[]> Of(Gen<byte[]> validJson) => Gen.Frequency(
        (4, Gen.Select(validJson, Gen.Int, (json, seed) => Structural(json, new Random(seed), 1 + (seed & 1)))),
        (1, Mutations.Of(validJson)));

    private static byte[] Structural(byte[] json, Random random, int count)
    {
        JsonNode? root = JsonNode.Parse(json);
        for (int i = 0; i < count && root is not null; i++)
        {
            var nodes = new List<JsonNode>();
            Collect(root, nodes);
            JsonNode target = nodes[random.Next(nodes.Count)];
            JsonNode? parent = target.Parent;
            JsonNode? replacement = Replacements[random.Next(Replacements.Length)]();
            switch (parent)
            {
                case null:
                    if (target is JsonObject o && random.Next(2) == 0)
                    {
                        o["unknownField" + random.Next(3)] = replacement;
                    }
                    else
                    {
                        root = replacement;
                    }

                    break;
                case JsonObject obj:
                {
                    string name = target.GetPropertyName();
                    if (random.Next(4) == 0)
                    {
                        obj.Remove(name);
                    }
                    else
                    {
                        obj[name] = replacement;
                    }

                    break;
                }

                case JsonArray array:
                {
                    int index = target.GetElementIndex();
                    if (random.Next(4) == 0)
                    {
                        array.RemoveAt(index);
                    }
                    else
                    {
                        array[index] = replacement;
                    }

                    break;
                }
            }
        }

        return Encoding.UTF8.GetBytes(root?.ToJsonString() ?? "null");
    }

    private static void Collect(JsonNode node, List<JsonNode> nodes)
    {
        nodes.Add(node);
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj)
                {
                    if (value is not null)
                    {
                        Collect(value, nodes);
                    }
                }

                break;
            case JsonArray array:
                foreach (JsonNode? value in array)
                {
                    if (value is not null)
                    {
                        Collect(value, nodes);
                    }
                }

                break;
        }
    }
}
