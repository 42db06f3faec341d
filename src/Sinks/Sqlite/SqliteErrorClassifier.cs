using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Sync.Sinks.Sqlite;

/// <summary>Decides what an error from SQLite means for the batch (see https://sqlite.org/rescode.html).</summary>
public static class SqliteErrorClassifier
{
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

        // The primary result code is the low byte of an extended one; the codes are SQLitePCLRaw's
        // (the provider under Microsoft.Data.Sqlite), the same numbers as sqlite3.h.
        var primary = (sqlite.SqliteExtendedErrorCode != 0 ? sqlite.SqliteExtendedErrorCode : sqlite.SqliteErrorCode) & 0xFF;
        return primary switch
        {
            raw.SQLITE_BUSY or raw.SQLITE_LOCKED => ErrorVerdict.Transient,
            raw.SQLITE_CONSTRAINT or raw.SQLITE_MISMATCH or raw.SQLITE_TOOBIG or raw.SQLITE_RANGE => ErrorVerdict.Poison,
            _ => ErrorVerdict.Fatal,
        };
    }
}
