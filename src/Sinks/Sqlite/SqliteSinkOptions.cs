using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Sync.Sinks.Sqlite;

/// <summary>Settings of the SQLite sink, the embedded default sink. In the config:
/// <c>sinks: { local: { type: sqlite, path: quickstart.db, busyTimeout: 5s, deleteMarkerRetention: 7d } }</c>.</summary>
public sealed class SqliteSinkOptions : IValidatable
{
    /// <summary>The database file; created when absent (its directory must exist). Required, no default.
    /// Example: <c>quickstart.db</c>. An in-memory database is refused: it is not durable.</summary>
    [Required]
    [FilePath]
    [Description("The database file, relative to the config file's folder; created when absent. Example: `quickstart.db`.")]
    public string Path { get; set; } = string.Empty;

    /// <summary>How long a statement waits for another connection's lock before the error counts as
    /// transient and the batch is retried with backoff (SQLite <c>busy_timeout</c>). Default 5 s.</summary>
    [Description("How long a statement waits for another connection's lock before the batch is retried with backoff. Default 5s.")]
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the version of a deleted key (a delete marker) is kept, so that a late, older
    /// create or update of that key cannot bring the row back. Markers older than this are pruned
    /// when the sink opens; an older change that arrives after that would be applied. Default 7 days;
    /// keep it longer than any redelivery or replay window you run.</summary>
    [Description("How long the version of a deleted key is kept so that a late, older create cannot bring the row back; pruned when the sink opens. Default 7d.")]
    public TimeSpan DeleteMarkerRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Backoff for transient errors (SQLITE_BUSY, SQLITE_LOCKED). Default 8 attempts, 50 ms doubling to 2 s.</summary>
    [Description("Backoff for busy/locked errors: `maxAttempts` (default 8), `initialDelay` (50ms), `maxDelay` (2s).")]
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;

    /// <summary>Every problem at once, each naming the field path under <paramref name="path"/> and the
    /// value, e.g. <c>sinks.local.path (empty) must be a file path</c>. Pure: touches no file.</summary>
    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Path))
        {
            problems.Add($"{path}.path (empty) must be a file path");
        }
        else if (System.IO.Path.GetFileName(Path.Trim()) is var name
            && (name == ":memory:" || name.StartsWith("file::memory:", StringComparison.OrdinalIgnoreCase)))
        {
            // The binder has already made the path absolute: the name is what was written.
            problems.Add($"{path}.path ({name}) must be a file path: an in-memory database is not durable");
        }
        else if (Path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0 || Path.EndsWith('/'))
        {
            problems.Add($"{path}.path ({Path.ReplaceLineEndings(" ")}) must be a file path");
        }

        problems.MustBeWithin($"{path}.busyTimeout", BusyTimeout, zeroAllowed: true, TimeSpan.FromHours(1), "0ms and 1h");
        problems.MustBePositive($"{path}.deleteMarkerRetention", DeleteMarkerRetention);
        problems.AddRange(RetryPolicy.ValidateSetting(Retry, path + ".retry"));

        return problems;
    }
}
