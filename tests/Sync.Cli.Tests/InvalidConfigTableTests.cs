using Sync.Cli;

namespace Sync.Cli.Tests;

/// <summary>
/// Every key documented in docs/configuration.md, given an invalid value in an otherwise valid
/// config: <c>sync validate</c> exits 2 and its message names the file and line of that key, the
/// field path and the value (a secret's value never). A drift guard fails when a documented key
/// has no case here and is not listed as having no invalid value.
/// </summary>
public sealed class InvalidConfigTableTests : IDisposable
{
    private const string Canary = "canary-Secret-4711";

    private readonly string _directory = Directory.CreateTempSubdirectory("sync-invalid-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// One invalid setting. <paramref name="Key"/> is the documented key; <paramref name="Settings"/>
    /// are <c>dotted.path: value</c> lines laid over the valid base config (more than one when the
    /// value is invalid only next to another setting); <paramref name="Value"/> must appear in the
    /// message, or must not when <paramref name="Secret"/>; <paramref name="At"/> is the setting
    /// field whose line is reported (the first setting's by default).
    /// </summary>
    public sealed record InvalidSetting(string Section, string Key, string[] Settings, string Value, bool Secret = false, string? At = null)
    {
        public string Field => At ?? Settings[0][..Settings[0].IndexOf(": ", StringComparison.Ordinal)];

        public override string ToString() => $"{Section}: {Key}";
    }

    /// <summary>Documented keys without any invalid value (free text), and why.</summary>
    private static readonly Dictionary<(string Section, string Key), string> NoInvalidValue = new()
    {
        [("sinks (type: redis)", "password")] = "any text is a password; an empty one means none",
    };

    private const string File = "sources (type: file)";
    private const string Pulsar = "sources (type: pulsar)";
    private const string Sqlite = "sinks (type: sqlite)";
    private const string Postgres = "sinks (type: postgres)";
    private const string Elastic = "sinks (type: elasticsearch)";
    private const string Redis = "sinks (type: redis)";
    private const string Materializers = "materializers";

    public static readonly InvalidSetting[] Cases =
    [
        new(File, "type", ["sources.changelog.type: kafka"], "kafka"),
        new(File, "path", ["sources.changelog.path: ''"], "''"),
        new(File, "follow", ["sources.changelog.follow: sometimes"], "sometimes"),
        new(File, "pollInterval", ["sources.changelog.pollInterval: 0ms"], "0ms"),

        new(Pulsar, "type", ["sources.bus.type: pulsr"], "pulsr"),
        new(Pulsar, "serviceUrl", ["sources.bus.serviceUrl: http://localhost:6650"], "http://localhost:6650"),
        new(Pulsar, "adminUrl", ["sources.bus.adminUrl: ftp://localhost:8080"], "ftp://localhost:8080"),
        new(Pulsar, "token", [$"sources.bus.token: {Canary}", "sources.bus.tokenFile: token.txt"], Canary, Secret: true, At: "sources.bus.tokenFile"),
        new(Pulsar, "tokenFile", ["sources.bus.tokenFile: ''"], "''"),
        new(Pulsar, "tlsTrustCertsFile", ["sources.bus.tlsTrustCertsFile: ''"], "''"),
        new(Pulsar, "tlsHostnameVerification", ["sources.bus.tlsHostnameVerification: perhaps"], "perhaps"),
        new(Pulsar, "tlsAllowInsecureConnection", ["sources.bus.tlsAllowInsecureConnection: perhaps"], "perhaps"),
        new(Pulsar, "subscription", ["sources.bus.subscription: '  '"], "'  '"),
        new(Pulsar, "subscriptionType", ["sources.bus.subscriptionType: round-robin"], "round-robin"),
        new(Pulsar, "initialPosition", ["sources.bus.initialPosition: middle"], "middle"),
        new(Pulsar, "readCompacted", ["sources.bus.readCompacted: true", "sources.bus.subscriptionType: shared"], "true"),
        new(Pulsar, "receiverQueueSize", ["sources.bus.receiverQueueSize: 0"], "0"),
        new(Pulsar, "patternDiscoveryInterval", ["sources.bus.patternDiscoveryInterval: 0ms"], "0ms"),
        new(Pulsar, "namespaces", ["sources.bus.namespaces: [public]"], "public"),
        new(Pulsar, "compactionPollInterval", ["sources.bus.compactionPollInterval: 0ms"], "0ms"),
        new(Pulsar, "compactedReadIdle", ["sources.bus.compactedReadIdle: 0ms"], "0ms"),
        new(Pulsar, "subscribeRetryTimeout", ["sources.bus.subscribeRetryTimeout: -1s"], "-1s"),
        new(Pulsar, "keyValueEncoding", ["sources.bus.keyValueEncoding: outline"], "outline"),

        new(Sqlite, "type", ["sinks.lite.type: sqlit"], "sqlit"),
        new(Sqlite, "path", ["sinks.lite.path: ':memory:'"], ":memory:"),
        new(Sqlite, "busyTimeout", ["sinks.lite.busyTimeout: 2h"], "2h"),
        new(Sqlite, "deleteMarkerRetention", ["sinks.lite.deleteMarkerRetention: 0ms"], "0ms"),
        new(Sqlite, "retry.maxAttempts", ["sinks.lite.retry.maxAttempts: 0"], "0"),
        new(Sqlite, "retry.initialDelay", ["sinks.lite.retry.initialDelay: soon"], "soon"),
        new(Sqlite, "retry.maxDelay", ["sinks.lite.retry.maxDelay: 1ms"], "1ms"),

        new(Postgres, "type", ["sinks.pg.type: postgress"], "postgress"),
        new(Postgres, "connectionString", [$"sinks.pg.connectionString: 'Password={Canary};Database=app'"], Canary, Secret: true),
        new(Postgres, "password", [$"sinks.pg.password: {Canary}", $"sinks.pg.connectionString: 'Host=db;Password={Canary}'"], Canary, Secret: true),
        new(Postgres, "schema", ["sinks.pg.schema: ''"], "''"),
        new(Postgres, "stateSchema", [$"sinks.pg.stateSchema: {new string('s', 64)}"], new string('s', 64)),
        new(Postgres, "tls", ["sinks.pg.tls: sometimes"], "sometimes"),
        new(Postgres, "rootCertificate", ["sinks.pg.rootCertificate: ca.pem", "sinks.pg.tls: require"], "ca.pem"),
        new(Postgres, "connectTimeout", ["sinks.pg.connectTimeout: 0ms"], "0ms"),
        new(Postgres, "commandTimeout", ["sinks.pg.commandTimeout: 25h"], "25h"),
        new(Postgres, "deleteMarkerRetention", ["sinks.pg.deleteMarkerRetention: 0ms"], "0ms"),
        new(Postgres, "idleProbeInterval", ["sinks.pg.idleProbeInterval: 2h"], "2h"),
        new(Postgres, "bulkShadow", ["sinks.pg.bulkShadow: sometimes"], "sometimes"),
        new(Postgres, "bulkShadowMaxKeys", ["sinks.pg.bulkShadowMaxKeys: 0"], "0"),
        new(Postgres, "retry.maxAttempts", ["sinks.pg.retry.maxAttempts: 1001"], "1001"),
        new(Postgres, "retry.initialDelay", ["sinks.pg.retry.initialDelay: soon"], "soon"),
        new(Postgres, "retry.maxDelay", ["sinks.pg.retry.maxDelay: 1ms"], "1ms"),
        new(Postgres, "target.schema", ["materializers.m.target.schema: ''", "materializers.m.sink: pg"], "''"),
        new(Postgres, "target.schemaEvolution", ["materializers.m.target.schemaEvolution: drop-columns", "materializers.m.sink: pg"], "drop-columns"),
        new(Postgres, "target.versionColumn", [$"materializers.m.target.versionColumn: {new string('v', 60)}", "materializers.m.sink: pg"], new string('v', 60)),
        new(Postgres, "target.fillFactor", ["materializers.m.target.fillFactor: 5", "materializers.m.sink: pg"], "5"),

        new(Elastic, "type", ["sinks.es.type: elastic"], "elastic"),
        new(Elastic, "urls", ["sinks.es.urls: [ftp://localhost:9200]"], "ftp://localhost:9200"),
        new(Elastic, "apiKey", [$"sinks.es.apiKey: {Canary}", "sinks.es.username: writer", "sinks.es.password: pw"], Canary, Secret: true),
        new(Elastic, "username", ["sinks.es.username: writer"], "writer"),
        new(Elastic, "password", [$"sinks.es.password: {Canary}"], Canary, Secret: true),
        new(Elastic, "caFingerprint", ["sinks.es.caFingerprint: zz:zz"], "zz:zz"),
        new(Elastic, "certificateValidation", ["sinks.es.certificateValidation: perhaps"], "perhaps"),
        new(Elastic, "refresh", ["sinks.es.refresh: sometimes"], "sometimes"),
        new(Elastic, "requestTimeout", ["sinks.es.requestTimeout: 2h"], "2h"),
        new(Elastic, "idleProbeInterval", ["sinks.es.idleProbeInterval: 2h"], "2h"),
        new(Elastic, "checkpointIndex", ["sinks.es.checkpointIndex: Bad*Index"], "Bad*Index"),
        new(Elastic, "bulkBytes", ["sinks.es.bulkBytes: 100"], "100"),
        new(Elastic, "bulkConcurrency", ["sinks.es.bulkConcurrency: 0"], "0"),
        new(Elastic, "bulkShadow", ["sinks.es.bulkShadow: sometimes"], "sometimes"),
        new(Elastic, "retry.maxAttempts", ["sinks.es.retry.maxAttempts: 0"], "0"),
        new(Elastic, "retry.initialDelay", ["sinks.es.retry.initialDelay: soon"], "soon"),
        new(Elastic, "retry.maxDelay", ["sinks.es.retry.maxDelay: 1ms"], "1ms"),
        new(Elastic, "target.index", ["materializers.m.target.index: 'Bad*Index'", "materializers.m.sink: es"], "Bad*Index"),
        new(Elastic, "target.tenantField", ["materializers.m.target.tenantField: tenant", "materializers.m.sink: es"], "tenant"),
        new(Elastic, "target.createIndex", ["materializers.m.target.createIndex: perhaps", "materializers.m.sink: es"], "perhaps"),
        new(Elastic, "target.alias", ["materializers.m.target.alias: 'Bad*Alias'", "materializers.m.sink: es"], "Bad*Alias"),
        new(Elastic, "target.shards", ["materializers.m.target.shards: 0", "materializers.m.sink: es"], "0"),
        new(Elastic, "target.replicas", ["materializers.m.target.replicas: 33", "materializers.m.sink: es"], "33"),
        new(Elastic, "target.textFields", ["materializers.m.target.textFields: ['']", "materializers.m.sink: es"], "''"),
        new(Elastic, "target.jsonMapping", ["materializers.m.target.jsonMapping: nested", "materializers.m.sink: es"], "nested"),
        new(Elastic, "target.deleteRetention", ["materializers.m.target.deleteRetention: 0ms", "materializers.m.sink: es"], "0ms"),

        new(Redis, "type", ["sinks.cache.type: rediss"], "rediss"),
        new(Redis, "endpoints", ["sinks.cache.endpoints: ['localhost:0']"], "localhost:0"),
        new(Redis, "cluster", ["sinks.cache.cluster: perhaps"], "perhaps"),
        new(Redis, "sentinel.serviceName", ["sinks.cache.sentinel.serviceName: ''", "sinks.cache.sentinel.endpoints: ['s1']"], "''"),
        new(Redis, "sentinel.endpoints", ["sinks.cache.sentinel.endpoints: ['s1:0']", "sinks.cache.sentinel.serviceName: mymaster"], "s1:0"),
        new(Redis, "user", ["sinks.cache.user: sync"], "sync"),
        new(Redis, "database", ["sinks.cache.database: -1"], "-1"),
        new(Redis, "keyPrefix", ["sinks.cache.keyPrefix: 'a b'"], "a b"),
        new(Redis, "tls.enabled", ["sinks.cache.tls.enabled: perhaps"], "perhaps"),
        new(Redis, "tls.caFile", ["sinks.cache.tls.caFile: ca.pem"], "ca.pem"),
        new(Redis, "tls.serverName", ["sinks.cache.tls.serverName: 'bad name!'", "sinks.cache.tls.enabled: true"], "bad name!"),
        new(Redis, "tls.verifyCertificate", ["sinks.cache.tls.verifyCertificate: false", "sinks.cache.tls.enabled: true", "sinks.cache.tls.caFile: ca.pem"], "false"),
        new(Redis, "protocol", ["sinks.cache.protocol: resp4"], "resp4"),
        new(Redis, "connectTimeout", ["sinks.cache.connectTimeout: 0ms"], "0ms"),
        new(Redis, "commandTimeout", ["sinks.cache.commandTimeout: 11m"], "11m"),
        new(Redis, "changesPerScript", ["sinks.cache.changesPerScript: 0"], "0"),
        new(Redis, "allowEviction", ["sinks.cache.allowEviction: sometimes"], "sometimes"),
        new(Redis, "bulkShadow", ["sinks.cache.bulkShadow: sometimes"], "sometimes"),
        new(Redis, "bulkShadowMaxKeys", ["sinks.cache.bulkShadowMaxKeys: 0"], "0"),
        new(Redis, "retry.maxAttempts", ["sinks.cache.retry.maxAttempts: 0"], "0"),
        new(Redis, "retry.initialDelay", ["sinks.cache.retry.initialDelay: soon"], "soon"),
        new(Redis, "retry.maxDelay", ["sinks.cache.retry.maxDelay: 1ms"], "1ms"),
        new(Redis, "target.keyTemplate", ["materializers.m.target.keyTemplate: 'users:{'", "materializers.m.sink: cache"], "users:{"),
        new(Redis, "target.format", ["materializers.m.target.format: xml", "materializers.m.sink: cache"], "xml"),
        new(Redis, "target.fields", ["materializers.m.target.fields: []", "materializers.m.sink: cache"], "[]"),
        new(Redis, "target.ttl", ["materializers.m.target.ttl: 0ms", "materializers.m.sink: cache"], "0ms"),
        new(Redis, "target.indexes", ["materializers.m.target.indexes: ['users:static']", "materializers.m.sink: cache"], "users:static"),
        new(Redis, "target.deleteMarkerTtl", ["materializers.m.target.deleteMarkerTtl: 0ms", "materializers.m.sink: cache"], "0ms"),

        new(Materializers, "source", ["materializers.m.source: nowhere"], "nowhere"),
        new(Materializers, "topics", ["materializers.m.topics: ['']"], "''"),
        new(Materializers, "topicPattern", ["materializers.m.topicPattern: '('", "materializers.m.topics: ''"], "("),
        new(Materializers, "format", ["materializers.m.format: avro"], "avro"),
        new(Materializers, "sink", ["materializers.m.sink: nowhere"], "nowhere"),
        new(Materializers, "table", ["materializers.m.table: ''"], "''"),
        new(Materializers, "keyColumns", ["materializers.m.keyColumns: []"], "[]"),
        new(Materializers, "batchSize", ["materializers.m.batchSize: 0"], "0"),
        new(Materializers, "linger", ["materializers.m.linger: 2m"], "2m"),
        new(Materializers, "readAhead", ["materializers.m.readAhead: 17"], "17"),
        new(Materializers, "rollbackCheckInterval", ["materializers.m.rollbackCheckInterval: 50ms"], "50ms"),
        new(Materializers, "onEmptySink", ["materializers.m.onEmptySink: ignore"], "ignore"),
        new(Materializers, "deadLetter", ["materializers.m.deadLetter: ''"], "''"),
        new(Materializers, "deadLetterTarget", ["materializers.m.deadLetterTarget: topic"], "topic"),
        new(Materializers, "repairTombstones", ["materializers.m.repairTombstones: perhaps"], "perhaps"),
        new(Materializers, "columns.include", ["materializers.m.columns.include: [name]", "materializers.m.columns.exclude: [email]"], "name"),
        new(Materializers, "columns.exclude", ["materializers.m.columns.exclude: [id]", "materializers.m.keyColumns: [id]"], "id"),
        new(Materializers, "columns.rename", ["materializers.m.columns.rename: { first: name, last: name }"], "name"),
        new(Materializers, "metadata", ["materializers.m.metadata: { seen: nowhere }"], "nowhere"),
        new(Materializers, "tenant.column", ["materializers.m.tenant.column: ''"], "''"),
        new(Materializers, "tenant.from", ["materializers.m.tenant.from: nowhere", "materializers.m.tenant.column: tenant"], "nowhere"),
        new(Materializers, "tenant.pattern", ["materializers.m.tenant.pattern: '(?<shard>.*)'", "materializers.m.tenant.column: tenant"], "(?<shard>.*)"),
        new(Materializers, "connector.unavailableValuePlaceholder", ["materializers.m.connector.unavailableValuePlaceholder: 'hex:zz'"], "hex:zz"),
        new(Materializers, "connector.decimalHandlingMode", ["materializers.m.connector.decimalHandlingMode: exact"], "exact"),
        new(Materializers, "connector.binaryHandlingMode", ["materializers.m.connector.binaryHandlingMode: base32"], "base32"),
        new(Materializers, "messages", ["materializers.m.messages: store"], "store"),
        new(Materializers, "errors.tolerance", ["materializers.m.errors.tolerance: some"], "some"),
        new(Materializers, "errors.maxDeadLetters", ["materializers.m.errors.maxDeadLetters: -1"], "-1"),

        new("errors", "tolerance", ["errors.tolerance: most"], "most"),
        new("errors", "maxDeadLetters", ["errors.maxDeadLetters: 5", "errors.tolerance: none"], "5"),

        new("consistency", "transactions", ["consistency.g.transactions: persistent://public/default/users", "consistency.g.materializers: [m]"], "persistent://public/default/users"),
        new("consistency", "materializers", ["consistency.g.materializers: [nobody]", "consistency.g.transactions: persistent://public/default/db1.transaction"], "nobody"),
        new("consistency", "maxTransactionChanges", ["consistency.g.maxTransactionChanges: 0", "consistency.g.transactions: persistent://public/default/db1.transaction", "consistency.g.materializers: [m]"], "0"),
        new("consistency", "endTimeout", ["consistency.g.endTimeout: 0ms", "consistency.g.transactions: persistent://public/default/db1.transaction", "consistency.g.materializers: [m]"], "0ms"),

        new("subjects", "<subject>.<materializer>.key", ["subjects.customer.m.key: ''"], "''"),
        new("subjects", "<subject>.<materializer>.field", ["subjects.customer.m.field: email"], "email"),

        new("erasure", "secret", [$"erasure.secret: {Canary[..8]}"], Canary[..8], Secret: true),
        new("erasure", "ledger.file", ["erasure.ledger.file: ''"], "''"),
        new("erasure", "ledger.postgres", ["erasure.ledger.postgres: lite"], "lite"),
        new("erasure", "ledger.schema", ["erasure.ledger.schema: gdpr-ledger"], "gdpr-ledger"),
        new("erasure", "ledger.topic", ["erasure.ledger.topic: persistent://public/default/ledger", "erasure.ledger.file: a.db"], "persistent://public/default/ledger"),
        new("erasure", "ledger.source", ["erasure.ledger.topic: persistent://public/default/ledger", "erasure.ledger.source: changelog"], "changelog", At: "erasure.ledger.source"),
        new("erasure", "refreshInterval", ["erasure.refreshInterval: 0ms"], "0ms"),
        new("erasure", "compactionTimeout", ["erasure.compactionTimeout: 0ms"], "0ms"),
    ];

    public static TheoryData<InvalidSetting> AllCases() => [.. Cases];

    /// <summary>The valid config every case starts from: all source and sink types, one materializer, one subject.</summary>
    private static readonly string[] Base =
    [
        "sources.changelog.type: file",
        "sources.changelog.path: changes.jsonl",
        "sources.bus.type: pulsar",
        "sources.bus.serviceUrl: pulsar://localhost:6650",
        "sinks.lite.type: sqlite",
        "sinks.lite.path: replica.db",
        "sinks.pg.type: postgres",
        "sinks.pg.connectionString: 'Host=localhost;Username=sync'",
        "sinks.es.type: elasticsearch",
        "sinks.es.urls: [http://localhost:9200]",
        "sinks.cache.type: redis",
        "sinks.cache.endpoints: ['localhost:6379']",
        "materializers.m.source: changelog",
        "materializers.m.sink: lite",
        "materializers.m.table: users",
        "materializers.m.topics: [persistent://public/default/users]",
        "subjects.customer.m.key: id",
        "erasure.secret: 0123456789abcdef-erasure",
    ];

    [Fact]
    public async Task The_base_config_is_valid()
    {
        var (path, _) = Write([]);

        var (exitCode, output, error) = await ValidateAsync(path);

        Assert.True(exitCode == 0, error);
        Assert.Equal("ok", output.Trim());
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public async Task An_invalid_value_exits_2_with_a_message_naming_line_field_and_value(InvalidSetting setting)
    {
        var (path, lines) = Write(setting.Settings);

        var (exitCode, output, error) = await ValidateAsync(path);

        Assert.Equal(2, exitCode);
        Assert.Empty(output);
        var location = $"{Path.GetFileName(path)}:{lines[setting.Field]}: ";
        var problem = error.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(location, StringComparison.Ordinal) && l.Contains(setting.Field, StringComparison.Ordinal));
        Assert.True(problem is not null, $"no problem at {location} naming {setting.Field}:\n{error}");
        if (setting.Secret)
        {
            Assert.DoesNotContain(setting.Value, error, StringComparison.Ordinal);
        }
        else
        {
            Assert.True(NamesValue(problem!, setting.Value), $"'{problem}' does not show the value {setting.Value}");
        }
    }

    [Fact]
    public void Every_documented_key_has_an_invalid_case_or_a_reason_why_it_has_none()
    {
        var documented = ConfigurationDocsTests.ReadDocs()
            .Where(s => s.Key.StartsWith("sources", StringComparison.Ordinal) || s.Key.StartsWith("sinks", StringComparison.Ordinal) || s.Key is "materializers" or "subjects" or "erasure" or "errors" or "consistency")
            .SelectMany(s => s.Value.Select(key => (Section: s.Key, Key: key)))
            .ToHashSet();
        var covered = Cases.Select(c => (c.Section, c.Key)).Concat(NoInvalidValue.Keys).ToHashSet();

        Assert.Empty(documented.Except(covered).Select(k => $"{k.Section}: {k.Key}").Order());
        Assert.Empty(covered.Except(documented).Select(k => $"{k.Section}: {k.Key}").Order());
    }

    /// <summary>An empty value is named by quoting it or by saying it is empty or blank.</summary>
    private static bool NamesValue(string problem, string value) => value switch
    {
        "''" or "'  '" => problem.Contains("''", StringComparison.Ordinal) || problem.Contains("empty", StringComparison.Ordinal) || problem.Contains("blank", StringComparison.Ordinal),
        "[]" => problem.Contains("[]", StringComparison.Ordinal) || problem.Contains("at least one", StringComparison.Ordinal),
        _ => problem.Contains(value, StringComparison.Ordinal),
    };

    private static async Task<(int ExitCode, string Output, string Error)> ValidateAsync(string path)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await SyncCli.InvokeAsync(["validate", "--config", path], output, error);
        return (exitCode, output.ToString(), error.ToString());
    }

    /// <summary>Writes the base config with <paramref name="settings"/> laid over it; returns each field's line.</summary>
    private (string Path, Dictionary<string, int> Lines) Write(string[] settings)
    {
        var root = new Node();
        foreach (var setting in Base.Concat(settings))
        {
            var split = setting.IndexOf(": ", StringComparison.Ordinal);
            root.Set(setting[..split].Split('.'), setting[(split + 2)..]);
        }

        var text = new StringBuilder();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        root.Render(text, lines, prefix: string.Empty, indent: 0);
        var path = System.IO.Path.Combine(_directory, $"config-{Guid.NewGuid():N}.yaml");
        System.IO.File.WriteAllText(path, text.ToString());
        return (path, lines);
    }

    /// <summary>A YAML mapping in the order keys were first set; a later value replaces an earlier one.</summary>
    private sealed class Node
    {
        private readonly List<string> _order = [];
        private readonly Dictionary<string, object> _children = new(StringComparer.Ordinal);

        public void Set(string[] path, string value)
        {
            if (!_children.ContainsKey(path[0]))
            {
                _order.Add(path[0]);
            }

            if (path.Length == 1)
            {
                _children[path[0]] = value;
                return;
            }

            if (_children.GetValueOrDefault(path[0]) is not Node child)
            {
                _children[path[0]] = child = new Node();
            }

            child.Set(path[1..], value);
        }

        public void Render(StringBuilder text, Dictionary<string, int> lines, string prefix, int indent)
        {
            foreach (var key in _order)
            {
                var field = prefix + key;
                lines[field] = text.ToString().Count(c => c == '\n') + 1;
                if (_children[key] is Node child)
                {
                    text.Append(' ', indent).Append(key).Append(":\n");
                    child.Render(text, lines, field + ".", indent + 2);
                }
                else
                {
                    text.Append(' ', indent).Append(key).Append(": ").Append((string)_children[key]).Append('\n');
                }
            }
        }
    }
}
