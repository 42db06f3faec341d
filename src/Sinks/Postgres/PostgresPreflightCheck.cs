using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary><c>sync check</c> of a PostgreSQL sink: it connects as configured (TLS mode included),
/// reports whether the session is encrypted, and asks the server whether the user may create the
/// schemas and tables the sink needs and alter the target tables that exist already.</summary>
public sealed class PostgresPreflightCheck : SinkPreflightCheck<PostgresSinkOptions>
{
    protected override async ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, string name, PostgresSinkOptions options, CancellationToken cancellationToken)
    {
        var findings = new List<CheckFinding>();
        await using var connection = new NpgsqlConnection(options.BuildConnectionString("sync check"));
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
        {
            findings.Add(CheckFinding.Error("reachable", $"the server refused the login: {e.MessageText}", $"check the user in sinks.{name}.connectionString and sinks.{name}.password, and the server's pg_hba.conf"));
            return findings;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Security.Authentication.AuthenticationException)
        {
            findings.Add(CheckFinding.Error("reachable", $"cannot connect: {e.Message}", $"check the host and port in sinks.{name}.connectionString, that the server runs, and sinks.{name}.tls and rootCertificate"));
            return findings;
        }

        var user = connection.UserName ?? "the user";
        findings.Add(CheckFinding.Ok("reachable", $"connected to {connection.Host}:{connection.Port}, database {connection.Database}, as {user}, server {connection.PostgreSqlVersion}"));

        // pg_stat_ssl shows whether this backend's connection is encrypted (PostgreSQL docs, "pg_stat_ssl").
        var encrypted = await ScalarAsync<bool>(connection, "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)", cancellationToken);
        findings.Add((options.Tls, encrypted) switch
        {
            (PostgresTlsMode.Disable, _) => CheckFinding.Warning("tls", "tls: disable, the connection is not encrypted", $"set sinks.{name}.tls: verify-full (with rootCertificate) unless the network to the server is trusted"),
            (_, false) => CheckFinding.Error("tls", $"tls: {Mode(options.Tls)} is configured, but the session is not encrypted", $"check sinks.{name}.tls and the server's ssl setting"),
            (PostgresTlsMode.Require, true) => CheckFinding.Warning("tls", "encrypted, but the server certificate is not checked (tls: require)", $"set sinks.{name}.tls: verify-full with rootCertificate"),
            _ => CheckFinding.Ok("tls", $"encrypted, certificate checked ({Mode(options.Tls)})"),
        });

        var canCreateSchemas = await ScalarAsync<bool>(connection, "SELECT has_database_privilege(current_database(), 'CREATE')", cancellationToken);
        var schemas = new List<string> { options.StateSchema };
        var targets = new List<(string Materializer, string Schema, string Table, SchemaEvolution Evolution)>();
        foreach (var (materializer, materializerOptions) in scope.Materializers)
        {
            var target = materializerOptions.Target as PostgresTargetOptions;
            var schema = target?.Schema ?? options.Schema;
            schemas.Add(schema);
            targets.Add((materializer, schema, materializerOptions.Table, target?.SchemaEvolution ?? SchemaEvolution.AddColumns));
        }

        foreach (var schema in schemas.Distinct(StringComparer.Ordinal))
        {
            findings.Add(await CheckSchemaAsync(connection, name, user, schema, canCreateSchemas, cancellationToken));
        }

        foreach (var target in targets)
        {
            findings.Add(await CheckTableAsync(connection, user, target, cancellationToken));
        }

        return findings;
    }

    private static async Task<CheckFinding> CheckSchemaAsync(NpgsqlConnection connection, string sink, string user, string schema, bool canCreateSchemas, CancellationToken cancellationToken)
    {
        // has_schema_privilege answers for the current user (PostgreSQL docs, "Access Privilege Inquiry Functions").
        await using var command = new NpgsqlCommand(
            "SELECT has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n WHERE n.nspname = $1", connection);
        command.Parameters.AddWithValue(schema);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var check = $"schema {schema}";
        if (!await reader.ReadAsync(cancellationToken))
        {
            return canCreateSchemas
                ? CheckFinding.Ok(check, "does not exist yet; the sink creates it")
                : CheckFinding.Error(check, $"does not exist, and {user} may not create schemas in this database",
                    $"create it (CREATE SCHEMA {Quote(schema)} AUTHORIZATION {Quote(user)}), grant CREATE ON DATABASE, or set sinks.{sink}.schema / target.schema to a schema that exists");
        }

        var (usage, create) = (reader.GetBoolean(0), reader.GetBoolean(1));
        return usage && create
            ? CheckFinding.Ok(check, $"{user} may use it and create tables in it")
            : CheckFinding.Error(check, $"{user} lacks {string.Join(" and ", new[] { usage ? null : "USAGE", create ? null : "CREATE" }.OfType<string>())} on it, needed to create the sink's tables",
                $"GRANT USAGE, CREATE ON SCHEMA {Quote(schema)} TO {Quote(user)}");
    }

    private static async Task<CheckFinding> CheckTableAsync(NpgsqlConnection connection, string user, (string Materializer, string Schema, string Table, SchemaEvolution Evolution) target, CancellationToken cancellationToken)
    {
        // ALTER TABLE (new columns, the version column) needs ownership of the table, or membership in
        // the owning role (PostgreSQL docs, ALTER TABLE: "You must own the table"); pg_has_role checks that.
        await using var command = new NpgsqlCommand(
            """
            SELECT pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE'), pg_get_userbyid(c.relowner)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2
            """, connection);
        command.Parameters.AddWithValue(target.Schema);
        command.Parameters.AddWithValue(target.Table);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var table = $"{Quote(target.Schema)}.{Quote(target.Table)}";
        var check = $"table {target.Schema}.{target.Table}";
        if (!await reader.ReadAsync(cancellationToken))
        {
            return CheckFinding.Ok(check, $"does not exist yet; materializer {target.Materializer} creates it");
        }

        var (owner, readWrite, ownerName) = (reader.GetBoolean(0), reader.GetBoolean(1), reader.GetString(2));
        if (!readWrite)
        {
            return CheckFinding.Error(check, $"{user} may not read and write it (owner {ownerName})", $"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {Quote(user)}");
        }

        if (!owner)
        {
            return target.Evolution == SchemaEvolution.None
                ? CheckFinding.Warning(check, $"owned by {ownerName}, so {user} cannot alter it; schemaEvolution is none, so new columns are refused anyway", $"ALTER TABLE {table} OWNER TO {Quote(user)} if new columns should be added")
                : CheckFinding.Error(check, $"owned by {ownerName}, so {user} cannot alter it to add new columns (schemaEvolution: addColumns)", $"ALTER TABLE {table} OWNER TO {Quote(user)}, or GRANT {Quote(ownerName)} TO {Quote(user)}");
        }

        return CheckFinding.Ok(check, $"{user} may read, write and alter it");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string Mode(PostgresTlsMode mode) => mode switch
    {
        PostgresTlsMode.VerifyCa => "verify-ca",
        PostgresTlsMode.VerifyFull => "verify-full",
        _ => mode.ToString().ToLowerInvariant(),
    };

    private static string Quote(string identifier) => PostgresIdentifiers.Quote(identifier);
}
