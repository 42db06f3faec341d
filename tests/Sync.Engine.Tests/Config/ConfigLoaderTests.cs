using System.ComponentModel.DataAnnotations;
using Sync.Sources;

namespace Sync.Engine.Tests.Config;

public class ConfigLoaderTests
{
    private const string File = "/configs/sync.yaml";

    private static readonly string Valid = """
        sources:
          changelog: { type: file, path: data/changelog.jsonl }
        sinks:
          local: { type: memory, path: out.db, batchLimit: 10 }
        materializers:
          users:
            source: changelog
            topics: [persistent://public/default/db1.public.users]
            format: debezium-json
            sink: local
            table: users
        """;

    [Fact]
    public void A_valid_config_binds_every_section()
    {
        var config = Parse(Valid);

        var source = Assert.IsType<FileSourceOptions>(config.Sources["changelog"].Options);
        Assert.Equal("/configs/data/changelog.jsonl", source.Path);
        Assert.False(source.Follow);
        var sink = Assert.IsType<MemorySinkOptions>(config.Sinks["local"].Options);
        Assert.Equal(10, sink.BatchLimit);
        var (name, users) = Assert.Single(config.Materializers);
        Assert.Equal("users", name);
        Assert.Equal(1000, users.BatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(5), users.Linger);
        Assert.Equal("/configs/users.deadletter.jsonl", config.DeadLetterPath(name, users));
    }

    [Fact]
    public void Every_problem_is_reported_at_once_with_its_line()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            sources:
              changelog: { type: file, path: x.jsonl, follow: maybe }
            sinks:
              local: { type: nosuch }
            materializers:
              users:
                source: changelg
                topics: [a]
                topicPattern: 'b'
                sink: local
                table: users
                batchSize: 0
                linger: soon
                colour: blue
            extra: 1
            """));

        Assert.Equal(
            [
                "sync.yaml:2: sources.changelog.follow (maybe) must be true or false",
                "sync.yaml:4: sinks.local.type (nosuch) must be one of: file-like, memory",
                "sync.yaml:7: materializers.users.source (changelg) does not name a configured source (known: changelog)",
                "sync.yaml:8: materializers.users.topics: exactly one of topics and topicPattern must be set",
                "sync.yaml:12: materializers.users.batchSize (0) must be between 1 and 100000",
                "sync.yaml:13: materializers.users.linger (soon) must be a duration such as 250ms, 5s, 10m, 2h or 7d",
                "sync.yaml:14: materializers.users.colour is not a known key (known: batchSize, columns, connector, deadLetter, deadLetterTarget, errors, format, keyColumns, linger, messages, metadata, onEmptySink, readAhead, repairTombstones, rollbackCheckInterval, sink, source, table, target, tenant, topicPattern, topics)",
                "sync.yaml:15: extra is not a known key (known: sources, sinks, materializers, subjects, erasure, errors, consistency)",
            ],
            e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Required_keys_are_named_when_missing()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            sources:
              changelog: { type: file }
            sinks:
              local: { type: memory }
            materializers:
              users: { source: changelog, topics: [a] }
            """));

        Assert.Equal(
            [
                "sync.yaml:2: sources.changelog.path is required",
                "sync.yaml:4: sinks.local.path is required",
                "sync.yaml:6: materializers.users.sink is required",
                "sync.yaml:6: materializers.users.table is required",
            ],
            e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Environment_variables_are_substituted_and_a_missing_one_is_named()
    {
        var text = Valid.Replace("path: out.db", "path: '${SYNC_TEST_DB}'", StringComparison.Ordinal)
            .Replace("table: users", "table: '${SYNC_TEST_TABLE:-people}'", StringComparison.Ordinal);

        var config = ConfigLoader.Parse(text, File, Types(), name => name == "SYNC_TEST_DB" ? "/data/x.db" : null);
        Assert.Equal("/data/x.db", ((MemorySinkOptions)config.Sinks["local"].Options).Path);
        Assert.Equal("people", config.Materializers[0].Value.Table);

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(text, File, Types(), _ => null));
        Assert.Equal("sync.yaml:4: sinks.local.path: environment variable SYNC_TEST_DB is not set", Assert.Single(e.Problems).ToString());
    }

    [Fact]
    public void An_erasure_secret_naming_an_unset_variable_says_only_that_the_variable_is_not_set()
    {
        var text = Valid + """

            subjects:
              customer:
                users: { key: id }
            erasure:
              secret: '${SYNC_ERASURE_SECRET}'
            """;

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(text, File, Types(), _ => null));

        Assert.Equal("erasure.secret: environment variable SYNC_ERASURE_SECRET is not set", Assert.Single(e.Problems).Message);
    }

    [Fact]
    public void A_missing_erasure_secret_says_where_to_write_it()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Valid + """

            subjects:
              customer:
                users: { key: id }
            """, File, Types(), _ => null));

        Assert.Contains("add secret: '${SYNC_ERASURE_SECRET}' under erasure and set that variable", Assert.Single(e.Problems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_value_is_never_shown_in_a_message()
    {
        var text = Valid.Replace("batchLimit: 10", "batchLimit: 10, password: hunter2", StringComparison.Ordinal)
            .Replace("type: memory,", "type: memory, passwordTimeout: hunter2,", StringComparison.Ordinal);

        var e = Assert.Throws<ConfigException>(() => Parse(text));

        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_yaml_names_the_line()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("sources:\n  a: [1, 2\nsinks: {}\n"));
        var problem = Assert.Single(e.Problems);
        Assert.StartsWith("sync.yaml:", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("invalid YAML", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Subjects_name_materializers_and_exactly_one_of_key_and_field()
    {
        var e = Assert.Throws<ConfigException>(() => Parse(Valid + """

            subjects:
              customer:
                users: { key: id, field: customer_id }
                orders: { field: customer_id }
            """));

        Assert.Contains(e.Problems, p => p.Message == "subjects.customer.users.field (customer_id) and key (id) are both set: exactly one of key and field must be set");
        Assert.Contains(e.Problems, p => p.Message == "subjects.customer.orders: orders does not name a configured materializer");
    }

    [Fact]
    public void Mapping_settings_are_checked()
    {
        var e = Assert.Throws<ConfigException>(() => Parse(Valid + """

                columns: { include: [a], exclude: [b], rename: { a: x, b: x } }
                metadata: { src: source.nope, region: property.region }
                tenant: { column: tenant, from: header, pattern: '(?<t>x' }
            """));

        Assert.Equal(
            [
                "materializers.users.columns.include ([a]) and exclude ([b]) are both set: keep some columns or drop some, not both",
                "materializers.users.columns.rename: 2 columns are renamed to x",
                "materializers.users.metadata.src (source.nope) must be one of: topic, position, publishTime, eventTime, op, tsMs, source.connector, source.name, source.db, source.schema, source.table, source.lsn, source.txId, source.tsMs, property.<name>",
                "materializers.users.tenant.from (header) must be one of: topic, source.db, source.schema, source.name",
                "materializers.users.tenant.pattern ((?<t>x) is not a valid regular expression: Invalid pattern '(?<t>x' at offset 6. Not enough )'s.",
            ],
            e.Problems.Select(p => p.Message));
    }

    [Fact]
    public void Connector_settings_default_to_debeziums_own_defaults_and_are_checked()
    {
        var (_, users) = Assert.Single(Parse(Valid).Materializers);
        var defaults = users.Connector;
        Assert.Equal(("__debezium_unavailable_value", "precise", "bytes"), (defaults.UnavailableValuePlaceholder, defaults.DecimalHandlingMode, defaults.BinaryHandlingMode));

        var e = Assert.Throws<ConfigException>(() => Parse(Valid + """

                connector: { unavailableValuePlaceholder: '', decimalHandlingMode: exact, binaryHandlingMode: base32 }
            """));

        Assert.Equal(
            [
                "materializers.users.connector.unavailableValuePlaceholder must not be empty (Debezium's default is __debezium_unavailable_value)",
                "materializers.users.connector.decimalHandlingMode (exact) must be one of: precise, string, double",
                "materializers.users.connector.binaryHandlingMode (base32) must be one of: bytes, base64, base64-url-safe, hex",
            ],
            e.Problems.Select(p => p.Message));
    }

    [Fact]
    public void A_topic_pattern_on_a_pulsar_source_must_name_its_namespace()
    {
        var text = """
            sources:
              bus: { type: pulsar, serviceUrl: 'pulsar://127.0.0.1:6650' }
            sinks:
              local: { type: memory, path: out.db }
            materializers:
              users: { source: bus, topicPattern: '.*users', sink: local, table: users }
              orders: { source: bus, topicPattern: 'persistent://public/default/db[0-9]+\.orders', sink: local, table: orders }
            """;

        var e = Assert.Throws<ConfigException>(() => Parse(text));

        var problem = Assert.Single(e.Problems);
        Assert.Equal(6, problem.Line);
        Assert.StartsWith("materializers.users.topicPattern (.*users) must begin with a literal persistent://tenant/namespace/", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_topic_pattern_matches_whole_topic_names()
    {
        var config = Parse(Valid.Replace("topics: [persistent://public/default/db1.public.users]", "topicPattern: 'persistent://public/default/db[0-9]+\\.public\\.users'", StringComparison.Ordinal));
        var filter = config.Materializers[0].Value.TopicFilter();

        Assert.True(filter("persistent://public/default/db12.public.users"));
        Assert.False(filter("persistent://public/default/db1.public.users_archive"));
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("5s", 5000)]
    [InlineData("1.5s", 1500)]
    [InlineData("10m", 600_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("7d", 604_800_000)]
    public void Durations_read_a_number_and_a_unit(string text, double milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(milliseconds, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("5 years")]
    [InlineData("")]
    public void Durations_without_a_known_unit_are_rejected(string text) => Assert.False(Durations.TryParse(text, out _));

    private static SyncConfig Parse(string text) => ConfigLoader.Parse(text, File, Types(), _ => null);

    private static ComponentTypes Types()
    {
        var types = SourceCatalog.Types();
        types.Sinks["memory"] = typeof(MemorySinkOptions);
        types.Sinks["file-like"] = typeof(MemorySinkOptions);
        types.Formats.AddRange(["debezium-json", "json"]);
        return types;
    }

    public sealed class MemorySinkOptions : IValidatable
    {
        [Required]
        public string Path { get; set; } = string.Empty;

        public int BatchLimit { get; set; } = 5;

        [Secret]
        public string? Password { get; set; }

        [Secret]
        public TimeSpan PasswordTimeout { get; set; }

        public IReadOnlyList<string> Validate(string path) => [];
    }
}
