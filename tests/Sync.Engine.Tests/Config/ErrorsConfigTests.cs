using Sync.Sources;

namespace Sync.Engine.Tests.Config;

/// <summary>The error policy (<c>errors:</c>) at the top level and per materializer, key by key.</summary>
public class ErrorsConfigTests
{
    private const string File = "/configs/sync.yaml";

    [Fact]
    public void Without_errors_every_materializer_tolerates_all_dead_letters_without_a_limit()
    {
        var config = Parse(string.Empty, string.Empty);

        Assert.Equal(ErrorPolicy.TolerateAll, config.ErrorPolicyOf(config.Materializers[0].Value));
        Assert.Equal(MessageHandling.Skip, config.Materializers[0].Value.Messages);
    }

    [Fact]
    public void A_materializer_key_overrides_the_top_level_key_of_the_same_name_only()
    {
        var config = Parse(
            "errors: { tolerance: all, maxDeadLetters: 5 }",
            """
                errors: { maxDeadLetters: 1 }
              orders:
                source: changelog
                topics: [b]
                sink: local
                table: orders
                errors: { tolerance: none }
            """);

        Assert.Equal(new ErrorPolicy(ErrorTolerance.All, 1), config.ErrorPolicyOf(config.Materializers[0].Value));
        // tolerance none stops at the first letter whatever limit the top level sets.
        Assert.Equal(new ErrorPolicy(ErrorTolerance.None, 0), config.ErrorPolicyOf(config.Materializers[1].Value));
    }

    [Fact]
    public void A_top_level_tolerance_none_applies_to_every_materializer_and_messages_keep_binds()
    {
        var config = Parse("errors: { tolerance: none }", "    messages: keep");

        Assert.Equal(new ErrorPolicy(ErrorTolerance.None, 0), config.ErrorPolicyOf(config.Materializers[0].Value));
        Assert.Equal(MessageHandling.Keep, config.Materializers[0].Value.Messages);
    }

    [Fact]
    public void Contradicting_or_unknown_values_are_named_with_their_line()
    {
        var e = Assert.Throws<ConfigException>(() => Parse(
            "errors: { tolerance: none, maxDeadLetters: 3 }",
            """
                errors: { tolerance: some, maxDeadLetters: -1 }
                messages: store
            """));

        Assert.Equal(
            [
                "sync.yaml:1: errors.maxDeadLetters (3) needs tolerance all; tolerance none already stops at the first dead letter",
                "sync.yaml:12: materializers.users.errors.tolerance (some) must be one of: all, none",
                "sync.yaml:12: materializers.users.errors.maxDeadLetters (-1) must be 0 or more",
                "sync.yaml:13: materializers.users.messages (store) must be one of: skip, keep",
            ],
            e.Problems.Select(p => p.ToString()));
    }

    private static SyncConfig Parse(string top, string users) => ConfigLoader.Parse(
        $"""
        {top}
        sources:
          changelog: {"{"} type: file, path: data/changelog.jsonl {"}"}
        sinks:
          local: {"{"} type: memory {"}"}
        materializers:
          users:
            source: changelog
            topics: [a]
            sink: local
            table: users
        {users}
        """,
        File,
        Types(),
        _ => null);

    private static ComponentTypes Types()
    {
        var types = SourceCatalog.Types();
        types.Sinks["memory"] = typeof(MemorySink);
        types.Formats.Add("debezium-json");
        return types;
    }

    public sealed class MemorySink
    {
        public string? Path { get; set; }
    }
}
