using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary>Settings of the PostgreSQL sink. In the config:
/// <c>sinks: { pg: { type: postgres, connectionString: "Host=db;Database=app;Username=sync", password: "${PGPASSWORD}", tls: verify-full } }</c>.</summary>
public sealed class PostgresSinkOptions : IValidatable, IReportsInsecureTransport
{
    /// <summary>An Npgsql connection string (host, port, database, username, …). Secret: it is never
    /// printed. TLS settings go in <see cref="Tls"/> and <see cref="RootCertificate"/>, not here.
    /// Required. Example: <c>Host=db.internal;Port=5432;Database=app;Username=sync</c>.</summary>
    [Required]
    [Secret]
    [Description("Npgsql connection string (Host, Port, Database, Username; Password allowed). Never printed. Example: `Host=db;Database=app;Username=sync`.")]
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The password, when it is not in <see cref="ConnectionString"/>; usually <c>${PGPASSWORD}</c>. Never printed. Default none.</summary>
    [Secret]
    [Description("Password, when not in the connection string; usually `${PGPASSWORD}`. Never printed.")]
    public string? Password { get; set; }

    /// <summary>The schema of target tables unless a materializer's <c>target.schema</c> says otherwise;
    /// created when absent. Default <c>public</c>.</summary>
    [Description("Schema of target tables (a materializer's `target.schema` overrides it); created when absent. Default `public`.")]
    public string Schema { get; set; } = "public";

    /// <summary>The schema of the sink's own tables: <c>checkpoints</c> and <c>delete_markers</c>. Default <c>sync</c>.</summary>
    [Description("Schema of the sink's own tables (`checkpoints`, `delete_markers`). Default `sync`.")]
    public string StateSchema { get; set; } = "sync";

    /// <summary>TLS: <c>disable</c>, <c>require</c> (no certificate check), <c>verify-ca</c> or
    /// <c>verify-full</c>. Default <c>verify-full</c>: certificate validation is on unless turned off here.</summary>
    [Description("TLS: `disable`, `require` (encrypted, no certificate check), `verify-ca`, `verify-full`. Default `verify-full`.")]
    public PostgresTlsMode Tls { get; set; } = PostgresTlsMode.VerifyFull;

    /// <summary>A PEM file of the CA that signed the server certificate, for <c>verify-ca</c> and
    /// <c>verify-full</c>; the system trust store when absent. Default none.</summary>
    [FilePath]
    [Description("PEM file of the CA that signed the server certificate (verify-ca, verify-full); the system store when absent.")]
    public string? RootCertificate { get; set; }

    /// <summary>How long opening a connection may take before the attempt counts as a transient failure. Default 10 s.</summary>
    [Description("How long opening a connection may take before it counts as a transient failure. Default 10s.")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one statement may run (whole seconds; 0 = no limit). Default 60 s.</summary>
    [Description("How long one statement may run, whole seconds; 0s = no limit. Default 60s.")]
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long the version of a deleted key (a delete marker) is kept, so that a late, older
    /// create cannot bring the row back. Pruned when the sink opens. Default 7 days.</summary>
    [Description("How long a deleted key's version is kept so that a late, older create cannot bring the row back; pruned when the sink opens. Default 7d.")]
    public TimeSpan DeleteMarkerRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Whether <c>sync backfill --shadow</c> bulk-loads the shadow table: changes are appended
    /// to an unlogged staging table with binary COPY and the shadow is built from it set-wise (the
    /// newest change per key), its primary key and indexes created once, before the swap. False applies
    /// every batch with the guarded upsert, as <c>sync run</c> does. Both leave the same table. Default false: opt-in
    /// until the bulk load is measured at full size, and because a value refused only by the build's cast fails
    /// the whole backfill where the guarded path dead-letters that one row.</summary>
    [Description("`backfill --shadow` appends changes to a staging table (binary COPY) and builds the shadow from it set-wise before the swap; false applies each batch with the guarded upsert. Same result either way. Default false.")]
    public bool BulkShadow { get; set; }

    /// <summary>With <see cref="BulkShadow"/>: how many keys' newest changes are held in memory before
    /// they are appended to the staging log. The log then holds about one change per key and the build
    /// sorts that many instead of every change; a backfill with more keys than this appends each key
    /// once per write-out it appears in. Each held key keeps its decoded change. Default 1,000,000.</summary>
    [Description("With `bulkShadow`: how many keys' newest changes are held in memory, collapsed across batches, before they are appended to the staging table; the build then sorts about one change per key. Default 1000000.")]
    public int BulkShadowMaxKeys { get; set; } = 1_000_000;

    /// <summary>How long the sink's connection may sit unused before the sink asks the server when it
    /// started (<c>SELECT pg_postmaster_start_time()</c>), so that a server restarted, restored from an
    /// older copy or failed over under an idle sink makes its materializers read their checkpoints back
    /// at once instead of at their next batch or periodic check. 0 = never. Default 5 s.</summary>
    [Description("How long the connection may sit unused before the sink asks the server when it started (`SELECT pg_postmaster_start_time()`), so that a restart, restore or failover under an idle sink is found at once; 0s = never. Default 5s.")]
    public TimeSpan IdleProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Backoff for transient errors (connection loss, 40001, 40P01, 57P01, cannot connect). Default 8 attempts, 50 ms doubling to 2 s.</summary>
    [Description("Backoff for transient errors (connection loss, serialization failure, deadlock, admin shutdown): `maxAttempts` (8), `initialDelay` (50ms), `maxDelay` (2s).")]
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;

    /// <summary>Every problem at once, each naming the field path and the value (secrets shown as <c>***</c>). Pure: no I/O.</summary>
    /// <inheritdoc/>
    public IReadOnlyList<string> InsecureTransport(string path) => Tls switch
    {
        PostgresTlsMode.Disable => [$"{path}.tls is 'disable': the connection is not encrypted"],
        PostgresTlsMode.Require => [$"{path}.tls is 'require': the connection is encrypted but the server certificate is not checked"],
        _ => [],
    };

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            problems.Add($"{path}.connectionString (empty) must be an Npgsql connection string");
        }
        else
        {
            NpgsqlConnectionStringBuilder? builder = null;
            try
            {
                builder = new NpgsqlConnectionStringBuilder(ConnectionString);
            }
            catch (ArgumentException)
            {
                // The parser's message can quote the text; never show it.
                problems.Add($"{path}.connectionString (***) is not a valid Npgsql connection string");
            }

            if (builder is not null)
            {
                if (string.IsNullOrWhiteSpace(builder.Host))
                {
                    problems.Add($"{path}.connectionString (***) must name a Host");
                }

                var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = ConnectionString };
                if (given.Keys.Cast<string>().Any(k => k.Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant() is "SSLMODE" or "ROOTCERTIFICATE"))
                {
                    problems.Add($"{path}.connectionString (***) must not set SSL Mode or Root Certificate: use {path}.tls and {path}.rootCertificate");
                }

                if (Password is not null && !string.IsNullOrEmpty(builder.Password))
                {
                    problems.Add($"{path}.password (***) must not be set when the connection string holds a password");
                }
            }
        }

        problems.AddRange(PostgresIdentifiers.Validate($"{path}.schema", Schema));
        problems.AddRange(PostgresIdentifiers.Validate($"{path}.stateSchema", StateSchema));
        if (!Enum.IsDefined(Tls))
        {
            problems.Add($"{path}.tls ({(int)Tls}) must be one of: disable, require, verify-ca, verify-full");
        }

        if (RootCertificate is { } root && Tls is PostgresTlsMode.Disable or PostgresTlsMode.Require)
        {
            problems.Add($"{path}.rootCertificate ({root}) is only used with tls verify-ca or verify-full (tls is '{Tls.ToString().ToLowerInvariant()}')");
        }

        problems.MustBeWithin($"{path}.connectTimeout", ConnectTimeout, zeroAllowed: false, TimeSpan.FromMinutes(10), "1s and 10m");
        problems.MustBeWithin($"{path}.commandTimeout", CommandTimeout, zeroAllowed: true, TimeSpan.FromHours(24), "0s and 24h");
        problems.MustBePositive($"{path}.deleteMarkerRetention", DeleteMarkerRetention);
        problems.MustBeWithin($"{path}.idleProbeInterval", IdleProbeInterval, zeroAllowed: true, TimeSpan.FromHours(1), "0s and 1h");
        problems.MustBeBetween($"{path}.bulkShadowMaxKeys", BulkShadowMaxKeys, 1, 100_000_000);
        problems.AddRange(RetryPolicy.ValidateSetting(Retry, path + ".retry"));

        return problems;
    }

    /// <summary>The connection string the sink uses: the configured one with the password, TLS,
    /// timeouts, UTC session time zone and pooling off (a connection is discarded, never reused, after a failure).</summary>
    public string BuildConnectionString(string applicationName)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString)
        {
            Pooling = false,
            Timezone = "UTC",
            Timeout = Math.Max(1, (int)Math.Ceiling(ConnectTimeout.TotalSeconds)),
            CommandTimeout = (int)Math.Ceiling(CommandTimeout.TotalSeconds),
            IncludeErrorDetail = false,
            SslMode = Tls switch
            {
                PostgresTlsMode.Disable => SslMode.Disable,
                PostgresTlsMode.Require => SslMode.Require,
                PostgresTlsMode.VerifyCa => SslMode.VerifyCA,
                _ => SslMode.VerifyFull,
            },
        };
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = applicationName;
        }

        if (Password is not null)
        {
            builder.Password = Password;
        }

        if (RootCertificate is not null)
        {
            builder.RootCertificate = RootCertificate;
        }

        return builder.ConnectionString;
    }
}
