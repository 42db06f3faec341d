using System.Net.Sockets;
using Npgsql;
using YamlDotNet.RepresentationModel;

namespace Sync.Sinks.Tests.Postgres;

public sealed class PostgresSinkOptionsTests
{
    [Fact]
    public void Defaults_are_valid_once_a_connection_string_is_set_and_tls_verifies_certificates()
    {
        var options = new PostgresSinkOptions { ConnectionString = "Host=db;Database=app;Username=sync" };

        Assert.Empty(options.Validate("sinks.pg"));
        Assert.Equal(PostgresTlsMode.VerifyFull, options.Tls);
        Assert.Equal("public", options.Schema);
        Assert.Equal("sync", options.StateSchema);
        Assert.Equal(TimeSpan.FromDays(7), options.DeleteMarkerRetention);
        var built = new NpgsqlConnectionStringBuilder(options.BuildConnectionString("sync:pg"));
        Assert.Equal(SslMode.VerifyFull, built.SslMode);
        Assert.False(built.Pooling);
        Assert.Equal("UTC", built.Timezone);
        Assert.Equal(SchemaEvolution.AddColumns, new PostgresTargetOptions().SchemaEvolution);
        Assert.Equal("_sync_version", new PostgresTargetOptions().VersionColumn);
    }

    [Fact]
    public void Validation_names_every_field_path_and_value_at_once_and_never_shows_secrets()
    {
        var options = new PostgresSinkOptions
        {
            ConnectionString = "Host=db;Password=hunter2;SSL Mode=Disable",
            Password = "s3cret",
            Schema = "",
            StateSchema = new string('s', 64),
            Tls = PostgresTlsMode.Require,
            RootCertificate = "/etc/ca.pem",
            ConnectTimeout = TimeSpan.Zero,
            CommandTimeout = TimeSpan.FromSeconds(-1),
            DeleteMarkerRetention = TimeSpan.Zero,
            Retry = new RetryPolicy { MaxAttempts = 0 },
        };

        var problems = options.Validate("sinks.pg");

        Assert.Equal(
            [
                "sinks.pg.connectionString (***) must not set SSL Mode or Root Certificate: use sinks.pg.tls and sinks.pg.rootCertificate",
                "sinks.pg.password (***) must not be set when the connection string holds a password",
                "sinks.pg.schema (empty) must be a PostgreSQL identifier: it is empty",
                $"sinks.pg.stateSchema ({new string('s', 64)}) must be a PostgreSQL identifier: it is 64 bytes long; PostgreSQL identifiers hold at most 63",
                "sinks.pg.rootCertificate (/etc/ca.pem) is only used with tls verify-ca or verify-full (tls is 'require')",
                "sinks.pg.connectTimeout (0ms) must be between 1s and 10m",
                "sinks.pg.commandTimeout (-1s) must be between 0s and 24h",
                "sinks.pg.deleteMarkerRetention (0ms) must be positive",
                "sinks.pg.retry.maxAttempts (0) must be between 1 and 1000",
            ],
            problems);
        Assert.DoesNotContain(problems, p => p.Contains("hunter2", StringComparison.Ordinal) || p.Contains("s3cret", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("", "sinks.pg.connectionString (empty) must be an Npgsql connection string")]
    [InlineData("Host=db;Password=hunter2;Bogus Key=1", "sinks.pg.connectionString (***) is not a valid Npgsql connection string")]
    [InlineData("Database=app;Password=hunter2", "sinks.pg.connectionString (***) must name a Host")]
    public void A_bad_connection_string_is_reported_without_its_text(string connectionString, string message)
    {
        Assert.Equal([message], new PostgresSinkOptions { ConnectionString = connectionString }.Validate("sinks.pg"));
    }

    [Fact]
    public void Target_options_validate_their_identifiers_and_fill_factor()
    {
        var target = new PostgresTargetOptions { Schema = "a\0b", VersionColumn = new string('v', 60), FillFactor = 5 };

        Assert.Equal(
            [
                "materializers.users.target.schema (a\\0b) must be a PostgreSQL identifier: it contains a NUL character",
                "materializers.users.target.fillFactor (5) must be between 10 and 100",
                $"materializers.users.target.versionColumn ({new string('v', 60)}) must be a PostgreSQL identifier: it is 60 bytes long; PostgreSQL identifiers hold at most 54",
            ],
            target.Validate("materializers.users.target"));
    }

    [Fact]
    public void Options_bind_from_the_config_with_the_password_from_the_environment_and_tls_names()
    {
        var (options, problems) = Bind<PostgresSinkOptions>(
            "pg: { type: postgres, connectionString: 'Host=db;Username=sync', password: '${PGPASSWORD}', tls: verify-ca, rootCertificate: certs/ca.pem, retry: { maxAttempts: 3 } }",
            name => name == "PGPASSWORD" ? "hunter2" : null);

        Assert.Empty(problems);
        Assert.Equal("hunter2", options.Password);
        Assert.Equal(PostgresTlsMode.VerifyCa, options.Tls);
        Assert.Equal(Path.GetFullPath("certs/ca.pem", "/etc/sync"), options.RootCertificate);
        Assert.Equal(3, options.Retry.MaxAttempts);
        Assert.Equal("hunter2", new NpgsqlConnectionStringBuilder(options.BuildConnectionString("x")).Password);
    }

    [Fact]
    public void A_config_problem_never_shows_the_connection_string()
    {
        var (_, problems) = Bind<PostgresSinkOptions>("pg:\n  type: postgres\n  connectionString: 'Host=db;Password=hunter2;Nonsense=1'\n  tls: sometimes\n", _ => null);

        Assert.Equal(
            [
                "sync.yaml:4: sinks.pg.tls (sometimes) must be one of: disable, require, verifyCa, verifyFull",
                "sync.yaml:3: sinks.pg.connectionString (***) is not a valid Npgsql connection string",
            ],
            problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Target_options_bind_from_a_materializer_target_block()
    {
        var (target, problems) = Bind<PostgresTargetOptions>("pg: { schema: crm, schemaEvolution: none, versionColumn: _v }", _ => null);

        Assert.Empty(problems);
        Assert.Equal(("crm", SchemaEvolution.None, "_v"), (target.Schema, target.SchemaEvolution, target.VersionColumn));
    }

    [Fact]
    public void The_factory_names_its_type_and_both_options_types()
    {
        var factory = new PostgresSinkFactory();

        Assert.Equal("postgres", factory.Type);
        Assert.Equal(typeof(PostgresSinkOptions), factory.OptionsType);
        Assert.Equal(typeof(PostgresTargetOptions), ((Sync.Engine.Sinks.ISinkFactory)factory).TargetOptionsType);
    }

    [Theory]
    [InlineData("40001", ErrorVerdict.Transient)] // serialization_failure
    [InlineData("40P01", ErrorVerdict.Transient)] // deadlock_detected
    [InlineData("57P01", ErrorVerdict.Transient)] // admin_shutdown
    [InlineData("57P03", ErrorVerdict.Transient)] // cannot_connect_now
    [InlineData("08006", ErrorVerdict.Transient)] // connection_failure
    [InlineData("53300", ErrorVerdict.Transient)] // too_many_connections
    [InlineData("55P03", ErrorVerdict.Transient)] // lock_not_available
    [InlineData("22003", ErrorVerdict.Poison)] // numeric_value_out_of_range
    [InlineData("22P02", ErrorVerdict.Poison)] // invalid_text_representation
    [InlineData("23502", ErrorVerdict.Poison)] // not_null_violation
    [InlineData("23514", ErrorVerdict.Poison)] // check_violation
    [InlineData("21000", ErrorVerdict.Poison)] // cardinality_violation
    [InlineData("54000", ErrorVerdict.Poison)] // program_limit_exceeded
    [InlineData("53100", ErrorVerdict.Fatal)] // disk_full
    [InlineData("42501", ErrorVerdict.Fatal)] // insufficient_privilege
    [InlineData("42P01", ErrorVerdict.Fatal)] // undefined_table
    [InlineData("25006", ErrorVerdict.Fatal)] // read_only_sql_transaction
    [InlineData("XX000", ErrorVerdict.Fatal)] // internal_error
    public void Classifier_tells_transient_poison_and_fatal_errors_apart_by_sqlstate(string sqlState, ErrorVerdict verdict)
    {
        Assert.Equal(verdict, PostgresErrorClassifier.Classify(new PostgresException("x", "ERROR", "ERROR", sqlState)));
    }

    [Fact]
    public void A_unique_violation_on_a_catalog_name_index_is_a_concurrent_create_and_transient_while_one_on_a_table_is_poison()
    {
        Assert.Equal(ErrorVerdict.Transient, PostgresErrorClassifier.Classify(new PostgresException("x", "ERROR", "ERROR", "23505", constraintName: "pg_namespace_nspname_index")));
        Assert.Equal(ErrorVerdict.Transient, PostgresErrorClassifier.Classify(new PostgresException("x", "ERROR", "ERROR", "23505", constraintName: "pg_type_typname_nsp_index")));
        Assert.Equal(ErrorVerdict.Poison, PostgresErrorClassifier.Classify(new PostgresException("x", "ERROR", "ERROR", "23505", constraintName: "users_pkey")));
    }

    [Fact]
    public void Classifier_treats_io_failures_as_transient_and_other_errors_as_fatal()
    {
        Assert.Equal(ErrorVerdict.Transient, PostgresErrorClassifier.Classify(new NpgsqlException("Exception while reading from stream", new IOException("reset"))));
        Assert.Equal(ErrorVerdict.Transient, PostgresErrorClassifier.Classify(new SocketException((int)SocketError.ConnectionRefused)));
        Assert.Equal(ErrorVerdict.Transient, PostgresErrorClassifier.Classify(new TimeoutException()));
        Assert.Equal(ErrorVerdict.Fatal, PostgresErrorClassifier.Classify(new InvalidOperationException("bug")));
    }

    [Fact]
    public void Error_descriptions_leave_out_quoted_values()
    {
        var error = new PostgresException("invalid input syntax for type numeric: \"4111 1111 1111 1111\"", "ERROR", "ERROR", "22P02");

        Assert.Equal("22P02 invalid input syntax for type numeric", PostgresErrorClassifier.Describe(error));
    }

    private static (T Options, List<ConfigProblem> Problems) Bind<T>(string yaml, Func<string, string?> environment)
        where T : new() =>
        OptionsYaml.Bind<T>(yaml, "sinks.pg", environment, "type");
}
