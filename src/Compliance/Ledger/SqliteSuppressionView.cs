namespace Sync.Compliance.Ledger;

/// <summary>A running process's copy of a file ledger's suppressed keys. The copy is reloaded as
/// soon as the ledger's files change (looked at, with two file stats, at most every
/// <see cref="ChangeCheckInterval"/>), and at the latest every refresh interval.</summary>
public sealed class SqliteSuppressionView : ISuppressionView
{
    private readonly string _path;
    private readonly TimeSpan _refresh;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private IReadOnlySet<(string Subject, string KeyHash)> _suppressed = new HashSet<(string, string)>();
    private DateTimeOffset _loadedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;
    private (DateTime, long, DateTime, long) _files;

    public SqliteSuppressionView(string path, TimeSpan refresh, TimeProvider time)
    {
        _path = path;
        _refresh = refresh;
        _time = time;
    }

    /// <summary>How often the ledger's files are looked at for a change.</summary>
    public static TimeSpan ChangeCheckInterval { get; } = TimeSpan.FromMilliseconds(20);

    public ValueTask<IReadOnlySet<(string Subject, string KeyHash)>> CurrentAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(Current());
        }
    }

    private IReadOnlySet<(string Subject, string KeyHash)> Current()
    {
        var now = _time.GetUtcNow();
        if (now - _checkedAt < ChangeCheckInterval)
        {
            return _suppressed;
        }

        _checkedAt = now;
        // The ledger is SQLite in WAL mode: a commit appends to the -wal file, a checkpoint rewrites
        // the database file, so their sizes and times change with every erase recorded.
        var files = (Stamp(_path), Length(_path), Stamp(_path + "-wal"), Length(_path + "-wal"));
        if (files == _files && now - _loadedAt < _refresh)
        {
            return _suppressed;
        }

        _files = files;
        _loadedAt = now;
        _suppressed = SqliteSuppressionLedger.ReadSuppressed(_path);
        return _suppressed;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static DateTime Stamp(string path) => File.GetLastWriteTimeUtc(path);

    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : -1;
    }
}
