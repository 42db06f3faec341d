using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>Decides what an error from SQLite means for the batch (see https://sqlite.org/rescode.html).</summary>
public static class SqliteErrorClassifier
{
    // Primary result codes (the low byte of an extended code).
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteTooBig = 18;
    private const int SqliteConstraint = 19;
    private const int SqliteMismatch = 20;
    private const int SqliteRange = 25;

    /// <summary>
    /// <list type="bullet">
    /// <item>BUSY, LOCKED (another connection holds the lock): <see cref="ErrorVerdict.Transient"/>.</item>
    /// <item>CONSTRAINT (NOT NULL, UNIQUE, CHECK, primary key), MISMATCH, TOOBIG, RANGE: the row
    /// cannot be written: <see cref="ErrorVerdict.Poison"/>.</item>
    /// <item>Everything else — IOERR, CORRUPT, FULL, CANTOPEN, NOTADB, READONLY, NOMEM, PERM, and
    /// SQL errors (a statement we generate failing is a bug or a changed schema, not bad data) —
    /// and any non-SQLite exception: <see cref="ErrorVerdict.Fatal"/>.</item>
    /// </list>
    /// </summary>
    public static ErrorVerdict Classify(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error is not SqliteException sqlite)
        {
            return ErrorVerdict.Fatal;
        }

        var primary = (sqlite.SqliteExtendedErrorCode != 0 ? sqlite.SqliteExtendedErrorCode : sqlite.SqliteErrorCode) & 0xFF;
        return primary switch
        {
            SqliteBusy or SqliteLocked => ErrorVerdict.Transient,
            SqliteConstraint or SqliteMismatch or SqliteTooBig or SqliteRange => ErrorVerdict.Poison,
            _ => ErrorVerdict.Fatal,
        };
    }
}
