using StackExchange.Redis;
using YamlDotNet.RepresentationModel;

namespace Sync.Sinks.Tests.Redis;

public sealed class RedisSinkOptionsTests
{
    [Fact]
    public void Defaults_are_valid_once_an_endpoint_is_set()
    {
        var options = new RedisSinkOptions { Endpoints = ["redis:6379"] };

        Assert.Empty(options.Validate("sinks.cache"));
        Assert.Equal("sync:", options.KeyPrefix);
        Assert.False(options.Tls.Enabled);
        Assert.True(options.Tls.VerifyCertificate);
        Assert.Equal(RedisProtocolVersion.Resp3, options.Protocol);
        Assert.Equal(8, options.Retry.MaxAttempts);
        var target = new RedisTargetOptions();
        Assert.Empty(target.Validate("materializers.users.target"));
        Assert.Equal(RedisValueFormat.Hash, target.Format);
        Assert.Equal(TimeSpan.FromHours(24), target.DeleteMarkerTtl);
        Assert.Null(target.Ttl);
    }

    [Fact]
    public void Validation_names_every_field_path_and_value_at_once_and_never_the_password()
    {
        var options = new RedisSinkOptions
        {
            Endpoints = ["redis:0", " "],
            User = "sync",
            Database = -1,
            KeyPrefix = "",
            Tls = new RedisTlsOptions { CaFile = "ca.pem" },
            ChangesPerScript = 0,
            CommandTimeout = TimeSpan.Zero,
            Retry = new RetryPolicy { MaxAttempts = 0 },
        };

        Assert.Equal(
            [
                "sinks.cache.endpoints[0] (redis:0) must be host:port with a port between 1 and 65535",
                "sinks.cache.endpoints[1] (empty) must be host:port with a port between 1 and 65535",
                "sinks.cache.user (sync) needs a password: an ACL user cannot log in without one",
                "sinks.cache.database (-1) must be between 0 and 100000",
                "sinks.cache.keyPrefix (empty) must be set: sync's own keys need a namespace apart from the data",
                "sinks.cache.tls.caFile (ca.pem) needs enabled: true; without TLS it has no effect",
                "sinks.cache.commandTimeout (0ms) must be between 1ms and 10m",
                "sinks.cache.changesPerScript (0) must be between 1 and 10000",
                "sinks.cache.retry.maxAttempts (0) must be between 1 and 1000",
            ],
            options.Validate("sinks.cache"));
    }

    [Fact]
    public void Bulk_shadow_is_refused_with_cluster_true_and_allowed_otherwise()
    {
        var options = new RedisSinkOptions { Endpoints = ["redis:6379"], Cluster = true, BulkShadow = true };
        var problem = Assert.Single(options.Validate("sinks.cache"));
        Assert.StartsWith("sinks.cache.bulkShadow (true) is not supported with cluster: true", problem, StringComparison.Ordinal);

        options.Cluster = false;
        Assert.Empty(options.Validate("sinks.cache"));
    }

    [Fact]
    public void Target_validation_names_templates_fields_and_durations()
    {
        var target = new RedisTargetOptions
        {
            KeyTemplate = "user:}",
            Fields = ["name", "name", ""],
            Ttl = TimeSpan.Zero,
            Indexes = ["by_email", "by:{email", "by:{email}", "by:{email}"],
            DeleteMarkerTtl = TimeSpan.FromMilliseconds(10),
        };

        Assert.Equal(
            [
                "t.keyTemplate (user:}) has an unmatched } at position 5 (write }} for a literal brace)",
                "t.fields[1] (name) is listed twice",
                "t.fields[2] (empty) must be a column name",
                "t.ttl (0ms) must be between 1ms and 3650d",
                "t.indexes[0] (by_email) must name at least one column as {column}",
                "t.indexes[1] (by:{email) has an unclosed { at position 3",
                "t.indexes[3] (by:{email}) is listed twice",
                "t.deleteMarkerTtl (10ms) must be between 1s and 3650d",
            ],
            target.Validate("t"));
        Assert.Equal(["t.keyTemplate (users) must name the key columns as {column}: every row would share one key"], new RedisTargetOptions { KeyTemplate = "users" }.Validate("t"));
    }

    [Fact]
    public void Options_bind_from_the_config_with_endpoints_tls_and_a_nested_retry_policy()
    {
        var (options, problems) = Bind<RedisSinkOptions>(
            "cache: { type: redis, endpoints: [\"r1:6380\", r2], user: sync, password: \"${REDIS_PASSWORD}\", database: 2, keyPrefix: \"app:sync:\", "
            + "tls: { enabled: true, caFile: certs/ca.pem, serverName: redis.internal }, protocol: resp2, changesPerScript: 50, retry: { maxAttempts: 3 } }",
            "sinks.cache",
            "type");

        Assert.Empty(problems);
        Assert.Equal(["r1:6380", "r2"], options.Endpoints);
        Assert.Equal("sync", options.User);
        Assert.Equal("s3cret-from-env", options.Password);
        Assert.Equal(2, options.Database);
        Assert.Equal("app:sync:", options.KeyPrefix);
        Assert.True(options.Tls.Enabled);
        Assert.Equal(Path.GetFullPath("certs/ca.pem", "/etc/sync"), options.Tls.CaFile);
        Assert.Equal("redis.internal", options.Tls.ServerName);
        Assert.Equal(RedisProtocolVersion.Resp2, options.Protocol);
        Assert.Equal(50, options.ChangesPerScript);
        Assert.Equal(3, options.Retry.MaxAttempts);
    }

    [Fact]
    public void A_target_block_binds_template_format_fields_ttl_and_indexes()
    {
        var (target, problems) = Bind<RedisTargetOptions>(
            "target: { keyTemplate: \"{tenant}:user:{id}\", format: json, fields: [name, email], ttl: 7d, indexes: [\"users:by_email:{email}\"], deleteMarkerTtl: 48h }",
            "materializers.users.target");

        Assert.Empty(problems);
        Assert.Equal("{tenant}:user:{id}", target.KeyTemplate);
        Assert.Equal(RedisValueFormat.Json, target.Format);
        Assert.Equal(["name", "email"], target.Fields!);
        Assert.Equal(TimeSpan.FromDays(7), target.Ttl);
        Assert.Equal(["users:by_email:{email}"], target.Indexes!);
        Assert.Equal(TimeSpan.FromHours(48), target.DeleteMarkerTtl);
    }

    [Fact]
    public void A_secret_in_a_wrongly_typed_field_is_never_echoed()
    {
        var (_, problems) = Bind<RedisSinkOptions>("cache: { type: redis, endpoints: [r1], password: [\"hunter2-secret\"] }", "sinks.cache", "type");

        Assert.All(problems, p => Assert.DoesNotContain("hunter2", p.ToString(), StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Path == "sinks.cache.password");
    }

    [Fact]
    public void The_client_configuration_carries_credentials_tls_and_fails_fast_while_disconnected()
    {
        var options = new RedisSinkOptions
        {
            Endpoints = ["r1:6380", "[::1]:6381"],
            User = "sync",
            Password = "p4ss-Secret",
            Database = 3,
            Tls = new RedisTlsOptions { Enabled = true, ServerName = "redis.internal" },
        };

        var config = RedisSink.Configuration(options);

        Assert.Equal(2, config.EndPoints.Count);
        Assert.Equal("sync", config.User);
        Assert.Equal("p4ss-Secret", config.Password);
        Assert.True(config.Ssl);
        Assert.Equal("redis.internal", config.SslHost);
        Assert.Equal(3, config.DefaultDatabase);
        Assert.False(config.AbortOnConnectFail);
        Assert.Same(BacklogPolicy.FailFast, config.BacklogPolicy);
        Assert.Equal(RedisProtocol.Resp3, config.Protocol);
    }

    [Fact]
    public async Task An_unreachable_server_gives_up_after_the_retry_budget_without_showing_the_password()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var options = new RedisSinkOptions
        {
            Endpoints = [$"127.0.0.1:{port}"],
            Password = "p4ss-Secret",
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            Retry = new RetryPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(10) },
        };

        var error = await Assert.ThrowsAsync<SinkUnavailableException>(async () => await RedisSink.OpenAsync("cache", options, CancellationToken.None));

        Assert.Contains("redis sink 'cache': could not connect: the server stayed unavailable after 2 attempts", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("p4ss-Secret", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis", "redis", 6379)]
    [InlineData("redis:6380", "redis", 6380)]
    [InlineData("10.0.0.1:7000", "10.0.0.1", 7000)]
    [InlineData("[::1]:6390", "::1", 6390)]
    public void Endpoints_parse_as_host_and_port(string text, string host, int port)
    {
        Assert.True(RedisSinkOptions.TryParseEndpoint(text, out var h, out var p));
        Assert.Equal((host, port), (h, p));
    }

    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory", ErrorVerdict.Transient)]
    [InlineData("BUSY Redis is busy running a script", ErrorVerdict.Transient)]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot", ErrorVerdict.Transient)]
    [InlineData("READONLY You can't write against a read only replica.", ErrorVerdict.Transient)]
    [InlineData("MASTERDOWN Link with MASTER is down", ErrorVerdict.Transient)]
    [InlineData("NOSCRIPT No matching script", ErrorVerdict.Transient)]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value", ErrorVerdict.Poison)]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.", ErrorVerdict.Fatal)]
    [InlineData("NOAUTH Authentication required.", ErrorVerdict.Fatal)]
    [InlineData("NOPERM this user has no permissions to run the 'eval' command", ErrorVerdict.Fatal)]
    [InlineData("ERR max number of clients reached", ErrorVerdict.Transient)]
    [InlineData("ERR Error running script", ErrorVerdict.Fatal)]
    public void Classifier_tells_transient_poison_and_fatal_server_errors_apart(string message, ErrorVerdict verdict)
    {
        Assert.Equal(verdict, RedisErrorClassifier.Classify(new RedisServerException(RedisErrorKind.Unknown, CommandFlags.None, message)));
    }

    [Fact]
    public void Classifier_treats_connection_loss_and_timeouts_as_transient_and_refused_credentials_as_fatal()
    {
        Assert.Equal(ErrorVerdict.Transient, RedisErrorClassifier.Classify(new RedisConnectionException(ConnectionFailureType.SocketClosed, CommandFlags.None, "closed", null!, CommandStatus.Sent)));
        Assert.Equal(ErrorVerdict.Transient, RedisErrorClassifier.Classify(new RedisTimeoutException(CommandFlags.None, "timeout", CommandStatus.Sent)));
        Assert.Equal(ErrorVerdict.Fatal, RedisErrorClassifier.Classify(new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, CommandFlags.None, "auth", null!, CommandStatus.Sent)));
        Assert.Equal(ErrorVerdict.Fatal, RedisErrorClassifier.Classify(new IOException("disk")));
    }

    [Fact]
    public void Key_templates_parse_placeholders_and_escaped_braces()
    {
        var template = RedisKeyTemplate.Parse("{{app}}:{tenant}:user:{id}");

        Assert.Equal(["tenant", "id"], template.Placeholders);
        Assert.Equal("{app}:eu:user:{x}*", template.Render(c => c == "tenant" ? "eu" : "{x}*", out _));
        Assert.Null(template.Render(c => c == "tenant" ? null : "1", out var missing));
        Assert.Equal("tenant", missing);
        Assert.Equal("id", RedisKeyTemplate.Parse("user:{id}").SoleColumn);
        Assert.Null(template.SoleColumn);
        Assert.Equal("orders:eu:7", RedisKeyTemplate.ForKey("orders", ["tenant", "id"]).Render(c => c == "tenant" ? "eu" : "7", out _));
    }

    private static (T Options, List<ConfigProblem> Problems) Bind<T>(string yaml, string path, params string[] ignored)
        where T : new() =>
        OptionsYaml.Bind<T>(yaml, path, name => name == "REDIS_PASSWORD" ? "s3cret-from-env" : null, ignored);
}
