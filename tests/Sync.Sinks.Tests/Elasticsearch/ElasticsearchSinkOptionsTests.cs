using YamlDotNet.RepresentationModel;

namespace Sync.Sinks.Tests.Elasticsearch;

public sealed class ElasticsearchSinkOptionsTests
{
    [Fact]
    public void Defaults_are_valid_once_a_url_is_set()
    {
        var options = new ElasticsearchSinkOptions { Urls = ["https://es1:9200"] };

        Assert.Empty(options.Validate("sinks.search"));
        Assert.True(options.CertificateValidation);
        Assert.Equal(RefreshPolicy.None, options.Refresh);
        Assert.Equal("sync-checkpoints", options.CheckpointIndex);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RequestTimeout);
        Assert.Equal(8, options.Retry.MaxAttempts);
        Assert.Empty(new ElasticsearchTargetOptions().Validate("materializers.m.target"));
        Assert.Equal(TimeSpan.FromHours(24), new ElasticsearchTargetOptions().DeleteRetention);
    }

    [Fact]
    public void Validation_names_every_field_path_and_value_at_once_and_never_a_secret()
    {
        var options = new ElasticsearchSinkOptions
        {
            Urls = ["ftp://es1", "https://user:hunter2@es2:9200"],
            ApiKey = "c2VjcmV0LWtleQ==",
            Username = "elastic",
            Password = "hunter2",
            CaFingerprint = "AB:CD",
            RequestTimeout = TimeSpan.Zero,
            CheckpointIndex = "Checkpoints",
            Retry = new RetryPolicy { MaxAttempts = 0 },
        };

        var problems = options.Validate("sinks.search");

        Assert.Equal(
            [
                "sinks.search.urls[0] (ftp://es1) must be an http:// or https:// URL without credentials",
                "sinks.search.urls[1] (a URL with credentials) must be an http:// or https:// URL without credentials",
                "sinks.search.apiKey: set either apiKey or username/password, not both",
                "sinks.search.caFingerprint (AB:CD) must be a SHA-256 fingerprint: 64 hex digits, colons allowed",
                "sinks.search.requestTimeout (0ms) must be between 1ms and 1h",
                "sinks.search.checkpointIndex (Checkpoints) must be lower case",
                "sinks.search.retry.maxAttempts (0) must be between 1 and 1000",
            ],
            problems);
        Assert.DoesNotContain(problems, p => p.Contains("hunter2", StringComparison.Ordinal) || p.Contains("c2VjcmV0", StringComparison.Ordinal));
    }

    [Fact]
    public void A_password_needs_a_user_and_a_fingerprint_needs_certificate_validation()
    {
        var problems = new ElasticsearchSinkOptions
        {
            Urls = ["https://es1:9200"],
            Password = "p",
            CaFingerprint = new string('a', 64),
            CertificateValidation = false,
        }.Validate("s");

        Assert.Equal(
            [
                "s.password is set without a username: set both or neither",
                "s.caFingerprint: cannot be combined with certificateValidation: false",
            ],
            problems);
    }

    [Fact]
    public void Target_templates_are_checked_for_placeholders_and_index_name_rules()
    {
        var problems = new ElasticsearchTargetOptions
        {
            Index = "Users-{tenant}-{nope}",
            Alias = "_all-{table}",
            TenantField = "",
            Shards = 0,
            Replicas = -1,
            DeleteRetention = TimeSpan.Zero,
        }.Validate("materializers.m.target");

        Assert.Equal(
            [
                "materializers.m.target.index (Users-{tenant}-{nope}) uses unknown placeholder {nope} (known: {table}, {tenant}, {db}, {schema}, {sourceTable})",
                "materializers.m.target.alias (_all-{table}) must not start with -, _ or +",
                "materializers.m.target.tenantField (empty) must name a column when set",
                "materializers.m.target.shards (0) must be between 1 and 1024",
                "materializers.m.target.replicas (-1) must be between 0 and 32",
                "materializers.m.target.deleteRetention (0ms) must be positive",
            ],
            problems);
        Assert.Equal(["t.index (Users) must be lower case"], new ElasticsearchTargetOptions { Index = "Users" }.Validate("t"));
        Assert.Equal(["t.tenantField (org) is set but neither index nor alias uses {tenant}"], new ElasticsearchTargetOptions { TenantField = "org" }.Validate("t"));
    }

    [Fact]
    public void Options_bind_from_the_config()
    {
        var (options, problems) = Bind<ElasticsearchSinkOptions>(
            "s: { type: elasticsearch, urls: [https://es1:9200, https://es2:9200], apiKey: '${ES_KEY}', caFingerprint: '"
            + new string('0', 64) + "', refresh: wait-for, requestTimeout: 10s, retry: { maxAttempts: 3 } }",
            "type");

        Assert.Empty(problems);
        Assert.Equal(["https://es1:9200", "https://es2:9200"], options.Urls);
        Assert.Equal("from-env", options.ApiKey);
        Assert.Equal(RefreshPolicy.WaitFor, options.Refresh);
        Assert.Equal(TimeSpan.FromSeconds(10), options.RequestTimeout);
        Assert.Equal(3, options.Retry.MaxAttempts);
    }

    [Fact]
    public void Target_options_bind_from_the_config()
    {
        var (target, problems) = Bind<ElasticsearchTargetOptions>(
            "s: { index: 'orders-{tenant}', tenantField: org_id, alias: orders, createIndex: true, shards: 3, replicas: 0, textFields: [bio], jsonMapping: disabled, deleteRetention: 7d }");

        Assert.Empty(problems);
        Assert.Equal("orders-{tenant}", target.Index);
        Assert.Equal("org_id", target.TenantField);
        Assert.Equal(3, target.Shards);
        Assert.Equal(0, target.Replicas);
        Assert.Equal(["bio"], target.TextFields);
        Assert.Equal(JsonMapping.Disabled, target.JsonMapping);
        Assert.Equal(TimeSpan.FromDays(7), target.DeleteRetention);
    }

    [Fact]
    public void A_wrong_secret_is_never_echoed_by_the_binder()
    {
        var (_, problems) = Bind<ElasticsearchSinkOptions>("s: { urls: [http://es:9200], password: { nested: hunter2 } }");

        Assert.DoesNotContain(problems, p => p.ToString().Contains("hunter2", StringComparison.Ordinal));
    }

    [Fact]
    public void External_versions_put_every_LSN_above_every_position_and_keep_each_band_ordered()
    {
        long V(long? lsn, StreamPosition position) => ExternalVersions.Encode(new ChangeVersion(lsn, "t", position), out _)!.Value;

        Assert.Equal(ExternalVersions.LsnBase, V(0, new StreamPosition(0, 0)));
        Assert.True(V(0, StreamPosition.Start with { Ledger = 0, Entry = 0 }) > V(null, new StreamPosition((1L << 26) - 1, (1L << 24) - 1, 4093)));
        Assert.True(V(null, new StreamPosition(1, 0, -1)) > V(null, new StreamPosition(0, 5, 3)));
        Assert.True(V(null, new StreamPosition(1, 2, 0)) > V(null, new StreamPosition(1, 2, -1)));
        Assert.Equal(V(null, new StreamPosition(1, 2, -1)) + 1, V(null, new ChangeVersion(null, "t", new StreamPosition(1, 2, -1)).JustAfter().Position));
        Assert.Equal(V(41, default) + 1, V(42, default));

        Assert.Null(ExternalVersions.Encode(new ChangeVersion(null, "t", new StreamPosition(1L << 26, 0)), out var problem));
        Assert.Contains("does not fit", problem, StringComparison.Ordinal);
        Assert.Null(ExternalVersions.Encode(new ChangeVersion(-1, "t", default), out _));
    }

    [Theory]
    [InlineData(201, null, ItemOutcome.Applied)]
    [InlineData(404, null, ItemOutcome.Applied)]
    [InlineData(409, "version_conflict_engine_exception", ItemOutcome.Stale)]
    [InlineData(429, "es_rejected_execution_exception", ItemOutcome.Transient)]
    [InlineData(503, "unavailable_shards_exception", ItemOutcome.Transient)]
    [InlineData(500, "node_not_connected_exception", ItemOutcome.Transient)]
    [InlineData(400, "document_parsing_exception", ItemOutcome.Poison)]
    [InlineData(400, "mapper_parsing_exception", ItemOutcome.Poison)]
    [InlineData(400, "strict_dynamic_mapping_exception", ItemOutcome.Poison)]
    [InlineData(400, "illegal_argument_exception", ItemOutcome.Poison)]
    [InlineData(404, "index_not_found_exception", ItemOutcome.Fatal)]
    [InlineData(403, "security_exception", ItemOutcome.Fatal)]
    [InlineData(400, "some_future_exception", ItemOutcome.Fatal)]
    public void Bulk_items_are_classified_by_status_and_error_type(int status, string? type, ItemOutcome outcome)
    {
        Assert.Equal(outcome, ElasticsearchErrorClassifier.ClassifyItem(status, type));
    }

    [Theory]
    [InlineData(null, ErrorVerdict.Transient)]
    [InlineData(429, ErrorVerdict.Transient)]
    [InlineData(502, ErrorVerdict.Transient)]
    [InlineData(503, ErrorVerdict.Transient)]
    [InlineData(504, ErrorVerdict.Transient)]
    [InlineData(500, ErrorVerdict.Fatal)]
    [InlineData(401, ErrorVerdict.Fatal)]
    [InlineData(413, ErrorVerdict.Fatal)]
    public void Whole_requests_are_classified_by_status(int? status, ErrorVerdict verdict)
    {
        Assert.Equal(verdict, ElasticsearchErrorClassifier.ClassifyRequest(status));
    }

    [Fact]
    public void Reasons_lose_value_previews_and_quoted_ids()
    {
        var reason = "[1:9] failed to parse field [n] of type [long] in document with id 'alice@example.com'. Preview of field's value: 'my secret' (For input string)";

        Assert.Equal(
            "[1:9] failed to parse field [n] of type [long] in document with id '<id>'. Preview of field's value withheld (For input string)",
            ElasticsearchErrorClassifier.Sanitize(reason, "alice@example.com"));
    }

    [Fact]
    public void Document_ids_are_the_key_text_verbatim_or_the_key_json_for_composite_keys()
    {
        Assert.Equal("a/b?c#d e", DocumentIds.Of(Change.RowOf(("id", "a/b?c#d e"))));
        Assert.Equal("42", DocumentIds.Of(Change.RowOf(("id", 42))));
        Assert.Equal("{\"tenant\":\"a\",\"id\":1}", DocumentIds.Of(Change.RowOf(("tenant", "a"), ("id", 1))));
    }

    private static (T Options, List<ConfigProblem> Problems) Bind<T>(string yaml, params string[] ignored)
        where T : new() =>
        OptionsYaml.Bind<T>(yaml, "s", name => name == "ES_KEY" ? "from-env" : null, ignored);
}
