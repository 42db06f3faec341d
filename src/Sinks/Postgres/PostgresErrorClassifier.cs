using System.Net.Sockets;
using System.Security.Authentication;
using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary>Decides what an error from PostgreSQL or Npgsql means for the batch, by SQLSTATE
/// (https://www.postgresql.org/docs/current/errcodes-appendix.html).</summary>
public static class PostgresErrorClassifier
{
    /// <summary>
    /// <list type="bullet">
    /// <item>Transient — roll back, discard the connection, back off, retry: connection exceptions
    /// (class 08), serialization failure 40001, deadlock 40P01, lock not available 55P03,
    /// admin/crash shutdown and cannot-connect-now 57P01/57P02/57P03, too many connections 53300,
    /// query canceled by a statement timeout 57014, a unique violation 23505 on a catalog's name index
    /// (a concurrent CREATE … IF NOT EXISTS of the same name); any Npgsql I/O failure (<see cref="NpgsqlException.IsTransient"/>:
    /// a dropped socket, a failed connect), <see cref="TimeoutException"/> and socket errors.</item>
    /// <item>Poison — this row cannot be written: data exceptions (class 22: invalid input, out of
    /// range, too long), integrity constraints (class 23: not null, check, unique, foreign key),
    /// cardinality violation 21000, program limits (class 54: row or index entry too large).</item>
    /// <item>Fatal — everything else: disk full 53100, out of memory, insufficient privilege 42501,
    /// undefined or changed objects (class 42: a statement we generate failing is a changed schema or a bug),
    /// read-only transaction 25006, internal errors, and any other exception.</item>
    /// </list>
    /// </summary>
    public static ErrorVerdict Classify(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error is PostgresException pg)
        {
            var state = pg.SqlState;
            return state switch
            {
                "40001" or "40P01" or "55P03" or "57P01" or "57P02" or "57P03" or "53300" or "57014" => ErrorVerdict.Transient,
                "23505" when CatalogNameIndexes.Contains(pg.ConstraintName ?? "") => ErrorVerdict.Transient,
                "21000" => ErrorVerdict.Poison,
                _ when state.StartsWith("08", StringComparison.Ordinal) => ErrorVerdict.Transient,
                _ when state.StartsWith("22", StringComparison.Ordinal)
                    || state.StartsWith("23", StringComparison.Ordinal)
                    || state.StartsWith("54", StringComparison.Ordinal) => ErrorVerdict.Poison,
                _ => ErrorVerdict.Fatal,
            };
        }

        return error switch
        {
            // A certificate that does not verify will not verify on the next attempt either.
            _ when CertificateFailure(error) is not null => ErrorVerdict.Fatal,
            NpgsqlException { IsTransient: true } => ErrorVerdict.Transient,
            NpgsqlException { InnerException: IOException or SocketException or TimeoutException } => ErrorVerdict.Transient,
            TimeoutException or SocketException or IOException => ErrorVerdict.Transient,
            _ => ErrorVerdict.Fatal,
        };
    }

    /// <summary>The unique indexes on the names of schemas, tables and types. CREATE … IF NOT EXISTS
    /// looks the name up in the catalog before it inserts it, and PostgreSQL takes no lock on a name
    /// that does not exist yet: when another session creates the same schema or table in between and
    /// commits, the insert fails with 23505 on one of these indexes (two processes starting on an
    /// empty database, one creating its state schema while the other's first batch creates a table
    /// in it). A new transaction finds the object there, so the batch is retried.</summary>
    private static readonly HashSet<string> CatalogNameIndexes = new(StringComparer.Ordinal)
    {
        "pg_namespace_nspname_index", "pg_class_relname_nsp_index", "pg_type_typname_nsp_index",
    };

    /// <summary>The server's error without row values: the SQLSTATE, the message up to any quoted
    /// value (<c>invalid input syntax for type numeric: "…"</c>), and the column when the server names it.
    /// Npgsql's error detail (which shows the failing row) is never included.</summary>
    public static string Describe(Exception error)
    {
        if (error is PostgresException pg)
        {
            var text = pg.MessageText;
            var cut = text.IndexOf(": \"", StringComparison.Ordinal);
            if (cut >= 0)
            {
                text = text[..cut];
            }

            var column = pg.ColumnName is { } c && !text.Contains(c, StringComparison.Ordinal) ? $" (column {PostgresIdentifiers.Quote(c)})" : string.Empty;
            return $"{pg.SqlState} {text}{column}";
        }

        if (CertificateFailure(error) is { } tls)
        {
            return $"the TLS handshake failed, the server certificate was not accepted ({tls.Message}); "
                + "check that rootCertificate names the CA that signed it and that the certificate names the Host of the connection string";
        }

        return error.GetType().Name + ": " + error.Message;
    }

    /// <summary>The TLS handshake failure behind an Npgsql error, if that is what it is.</summary>
    private static AuthenticationException? CertificateFailure(Exception error)
    {
        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            if (inner is AuthenticationException authentication)
            {
                return authentication;
            }
        }

        return null;
    }
}
