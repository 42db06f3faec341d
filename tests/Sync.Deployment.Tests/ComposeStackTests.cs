using System.Text.RegularExpressions;
using Sync.Testing.Process;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>compose/ checked statically: no Docker engine runs here, so these tests prove that the
/// files fit together (names, ports, passwords, paths, topics), not that the images start.</summary>
public sealed class ComposeStackTests
{
    private readonly ComposeStack _stack = new();

    [Fact]
    public void The_stack_has_every_service_of_the_chain()
    {
        Assert.Equal(
            ["debezium", "elasticsearch", "pulsar", "redis", "sink-postgres", "source-postgres", "sync"],
            _stack.Services.Keys().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_service_waited_on_as_healthy_has_a_health_check()
    {
        foreach (var (name, node) in _stack.Services.Children)
        {
            if (((YamlMappingNode)node).TryChild("depends_on") is not YamlMappingNode dependsOn)
            {
                continue;
            }

            foreach (var dependency in dependsOn.Keys())
            {
                Assert.True(_stack.Services.TryChild(dependency) is not null, $"{name} depends on {dependency}, which is not a service");
                if (dependsOn.Map(dependency).Text("condition") == "service_healthy")
                {
                    Assert.True(_stack.Service(dependency).TryChild("healthcheck") is YamlMappingNode, $"{name} waits for {dependency} to be healthy, but {dependency} has no healthcheck");
                }
            }
        }
    }

    [Fact]
    public void Sync_starts_after_every_service_its_config_connects_to_is_healthy()
    {
        var dependsOn = _stack.Service("sync").Map("depends_on");
        foreach (var (where, host, _) in _stack.SyncEndpoints())
        {
            Assert.True(dependsOn.TryChild(host) is YamlMappingNode, $"{where} connects to {host}, but sync does not depend on it");
            Assert.Equal("service_healthy", dependsOn.Map(host).Text("condition"));
        }
    }

    [Fact]
    public void Every_host_and_port_in_the_sync_config_is_a_service_and_a_port_it_serves()
    {
        var endpoints = _stack.SyncEndpoints().ToList();
        Assert.NotEmpty(endpoints);
        foreach (var (where, host, port) in endpoints)
        {
            Assert.True(_stack.Services.TryChild(host) is not null, $"{where} names host {host}, which is not a compose service");
            Assert.True(_stack.ContainerPorts(host).Contains(port), $"{where} uses {host}:{port}, but {host} serves {string.Join(", ", _stack.ContainerPorts(host))}");
        }
    }

    [Fact]
    public void Sink_credentials_in_the_sync_config_are_the_ones_the_sink_services_are_started_with()
    {
        var sinks = _stack.SyncConfig.Map("sinks");
        var syncEnv = _stack.ResolvedEnvironment("sync");
        string Secret(string reference) => syncEnv[Regex.Match(reference, @"^\$\{(\w+)\}$").Groups[1].Value];

        var warehouse = sinks.Map("warehouse");
        var connection = ComposeStack.ConnectionString(warehouse.Text("connectionString"));
        var sinkPostgres = _stack.ResolvedEnvironment(connection["host"]);
        Assert.Equal(sinkPostgres["POSTGRES_USER"], connection["username"]);
        Assert.Equal(sinkPostgres["POSTGRES_DB"], connection["database"]);
        Assert.Equal(sinkPostgres["POSTGRES_PASSWORD"], Secret(warehouse.Text("password")));

        var cache = sinks.Map("cache");
        var redisHost = cache.Seq("endpoints").Texts().Single().Split(':')[0];
        var redisCommand = _stack.Service(redisHost).Seq("command").Texts().Select(Yaml.Interpolate).ToList();
        Assert.Equal(redisCommand[redisCommand.IndexOf("--requirepass") + 1], Secret(cache.Text("password")));

        var search = sinks.Map("search");
        var elasticsearch = _stack.ResolvedEnvironment(new Uri(search.Seq("urls").Texts().Single()).Host);
        Assert.Equal("elastic", search.Text("username"));
        Assert.Equal(elasticsearch["ELASTIC_PASSWORD"], Secret(search.Text("password")));
    }

    [Fact]
    public void Every_variable_the_sync_config_needs_is_set_for_the_sync_service()
    {
        var needed = Yaml.SyncVariables(File.ReadAllText(_stack.SyncConfigPath));
        var environment = _stack.ResolvedEnvironment("sync");

        Assert.NotEmpty(needed);
        foreach (var (name, hasFallback) in needed)
        {
            Assert.True(hasFallback || environment.ContainsKey(name), $"sync.yaml needs ${{{name}}}, which the sync service does not set");
        }
    }

    [Fact]
    public async Task The_sync_config_passes_validate_with_the_environment_compose_gives_it()
    {
        var result = await SyncProcess.RunWithEnvironmentAsync(
            Path.GetTempPath(), _stack.ResolvedEnvironment("sync"), "validate", "--config", _stack.SyncConfigPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("ok", result.Output.Trim());
    }

    [Fact]
    public void Sync_runs_the_mounted_config_and_keeps_its_files_on_a_volume()
    {
        var sync = _stack.Service("sync");
        var command = sync.Seq("command").Texts().ToList();
        var volumes = sync.Seq("volumes").Texts().Select(v => v.Split(':')).ToList();

        Assert.Equal("run", command[0]);
        var configPath = command[command.IndexOf("--config") + 1];
        Assert.Contains(volumes, v => v[0] == "./sync.yaml" && v[1] == configPath && v.ElementAtOrDefault(2) == "ro");

        // The config folder is read-only: every file sync writes must be under a writable volume.
        var writable = volumes.Where(v => v.ElementAtOrDefault(2) != "ro").Select(v => v[1]).ToList();
        var written = _stack.SyncConfig.Map("materializers").Children.Values
            .Select(m => ((YamlMappingNode)m).Text("deadLetter"))
            .Append(_stack.SyncConfig.Map("erasure").Text("ledger"));
        foreach (var path in written)
        {
            Assert.True(writable.Any(w => path.StartsWith(w + "/", StringComparison.Ordinal)), $"{path} is not on a writable volume of the sync service ({string.Join(", ", writable)})");
        }
    }

    [Fact]
    public void The_debezium_source_reads_the_source_database_with_the_seeded_login()
    {
        var configs = _stack.DebeziumConfig.Map("configs");
        var host = configs.Text("database.hostname");
        var source = _stack.Service(host);
        var environment = _stack.ResolvedEnvironment(host);

        Assert.Contains("wal_level=logical", source.Seq("command").Texts());
        Assert.Contains(int.Parse(configs.Text("database.port"), System.Globalization.CultureInfo.InvariantCulture), _stack.ContainerPorts(host));
        Assert.Equal(environment["POSTGRES_DB"], configs.Text("database.dbname"));
        Assert.Equal(environment["DEBEZIUM_PASSWORD"], configs.Text("database.password"));
        Assert.Equal("pgoutput", configs.Text("plugin.name"));

        var seed = File.ReadAllText(Path.Combine(ComposeStack.Folder, "source-postgres", "seed.psql"));
        Assert.Matches($@"CREATE ROLE {Regex.Escape(configs.Text("database.user"))} WITH LOGIN REPLICATION", seed);
        Assert.Matches($@"CREATE PUBLICATION {Regex.Escape(configs.Text("publication.name"))} FOR TABLE", seed);
    }

    [Fact]
    public void The_debezium_source_runs_on_the_broker_and_image_of_the_pulsar_service()
    {
        var configs = _stack.DebeziumConfig.Map("configs");
        var pulsarUrl = new Uri(configs.Text("pulsar.service.url"));
        var command = string.Join(' ', _stack.Service("debezium").Seq("command").Texts());

        Assert.Equal(_stack.Service("pulsar").Text("image"), _stack.Service("debezium").Text("image"));
        Assert.Contains(pulsarUrl.Port, _stack.ContainerPorts(pulsarUrl.Host));
        Assert.Contains($"--broker-service-url {pulsarUrl}".TrimEnd('/'), command, StringComparison.Ordinal);
        Assert.Contains("connectors/pulsar-io-debezium-postgres-", command, StringComparison.Ordinal);
        var mounted = _stack.Service("debezium").Seq("volumes").Texts().Select(v => v.Split(':')).Single(v => v[0] == "./debezium-postgres-source.yaml");
        Assert.Contains($"--source-config-file {mounted[1]}", command, StringComparison.Ordinal);
    }

    /// <summary>
    /// The Debezium version inside Pulsar IO's connector NARs, by Pulsar release line: 1.9.7.Final
    /// for 3.x and 4.x (apache/pulsar pulsar-io/debezium on those branches; the upgrade requests
    /// apache/pulsar#24886 and #24888 start "from 1.9.7.Final", the 2.x upgrade PRs #23078 and
    /// #24345 were closed unmerged).
    /// </summary>
    private static readonly Dictionary<string, string> BundledDebezium = new(StringComparer.Ordinal)
    {
        ["3.0"] = "1.9.7.Final",
        ["3.3"] = "1.9.7.Final",
        ["4.0"] = "1.9.7.Final",
        ["4.1"] = "1.9.7.Final",
    };

    /// <summary>Keys a Debezium 1.x connector does not know (2.0 renamed them: DBZ-5043, the
    /// topic.prefix change): given to a 1.9 connector they are ignored and the 1.x default applies.</summary>
    private static readonly string[] DebeziumTwoOnlyKeys = ["topic.prefix", "schema.history.internal", "schema.history.internal.pulsar.service.url", "schema.history.internal.pulsar.topic"];

    [Fact]
    public void The_debezium_source_uses_the_keys_of_the_debezium_version_the_pulsar_image_bundles()
    {
        var image = Yaml.Interpolate(_stack.Service("debezium").Text("image"));
        var pulsarVersion = image[(image.LastIndexOf(':') + 1)..];
        var line = string.Join('.', pulsarVersion.Split('.').Take(2));
        Assert.True(BundledDebezium.TryGetValue(line, out var debezium), $"no known Debezium version for Pulsar {pulsarVersion} ({image}); look it up in apache/pulsar pulsar-io/debezium and add it");
        var configs = _stack.DebeziumConfig.Map("configs");
        var keys = configs.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();

        Assert.StartsWith("1.", debezium, StringComparison.Ordinal);
        // 1.x: database.server.name names the topics; the 2.x key would be ignored.
        Assert.Matches("^[A-Za-z0-9_]+$", configs.Text("database.server.name"));
        Assert.Empty(keys.Intersect(DebeziumTwoOnlyKeys));
        // The history of a 1.x connector is configured under database.history.* (PulsarDatabaseHistory).
        Assert.Equal(configs.Text("pulsar.service.url"), configs.Text("database.history.pulsar.service.url"));
        // json-with-envelope: true makes the records KeyValue INLINE, which sync reads from the topic schema.
        Assert.Equal("true", configs.Text("json-with-envelope"));
        var pulsarSource = (YamlMappingNode)_stack.SyncConfig.Map("sources").Children.Values.Single(s => ((YamlMappingNode)s).Text("type") == "pulsar");
        var keyValueEncoding = pulsarSource.Children.TryGetValue(new YamlScalarNode("keyValueEncoding"), out var set) ? ((YamlScalarNode)set).Value : "auto";
        Assert.Contains(keyValueEncoding, new[] { "auto", "inline" });
    }

    [Fact]
    public void Every_table_the_seed_creates_reaches_a_materializer_and_every_materializer_reads_a_seeded_table()
    {
        var configs = _stack.DebeziumConfig.Map("configs");
        var seed = File.ReadAllText(Path.Combine(ComposeStack.Folder, "source-postgres", "seed.psql"));
        var schemas = configs.Text("schema.include.list").Split(',');
        var topics = Regex.Matches(seed, @"CREATE TABLE (\w+)\.(\w+)")
            .Select(m => (Schema: m.Groups[1].Value, Table: m.Groups[2].Value))
            .Where(t => schemas.Contains(t.Schema))
            .Select(t => $"persistent://{_stack.DebeziumConfig.Text("tenant")}/{_stack.DebeziumConfig.Text("namespace")}/{configs.Text("database.server.name")}.{t.Schema}.{t.Table}")
            .ToList();
        var patterns = _stack.SyncConfig.Map("materializers").Children
            .ToDictionary(m => ((YamlScalarNode)m.Key).Value!, m => new Regex($"^(?:{((YamlMappingNode)m.Value).Text("topicPattern")})$"));

        Assert.Equal(4, topics.Count);
        foreach (var topic in topics)
        {
            Assert.True(patterns.Values.Any(p => p.IsMatch(topic)), $"no materializer reads {topic}");
        }

        foreach (var (materializer, pattern) in patterns)
        {
            Assert.True(topics.Any(pattern.IsMatch), $"materializer {materializer} reads no topic Debezium writes ({string.Join(", ", topics)})");
        }
    }

    [Fact]
    public void Docker_compose_up_needs_nothing_set_in_the_environment()
    {
        // Every ${VAR} in the compose file has a default (Interpolate throws otherwise).
        foreach (var (_, node) in _stack.Services.Children)
        {
            foreach (var scalar in node.AllNodes.OfType<YamlScalarNode>())
            {
                Yaml.Interpolate(scalar.Value ?? string.Empty);
            }
        }
    }
}
