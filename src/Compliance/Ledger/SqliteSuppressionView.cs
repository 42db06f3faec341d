using Microsoft.Data.Sqlite;

namespace Sync.Compliance.Ledger;

/// <summary>A running process's copy of a file ledger's suppressed keys, reloaded as soon as another
/// process commits to the ledger (looked at at most every <see cref="ChangeCheckInterval"/>), and at
/// the latest every refresh interval. A commit is seen by SQLite's <c>PRAGMA data_version</c> on a
/// connection the view keeps open (https://www.sqlite.org/pragma.html#pragma_data_version: it
/// changes when another connection commits): file sizes and times are not enough, since a commit
/// into a WAL file that no longer grows, within one tick of the file system's clock, changes
/// neither. A replaced file (a restore) is seen by its size and time, and reopened.</summary>
public sealed class SqliteSuppressionView : ISuppressionView
{
    private readonly string _path;
    private readonly TimeSpan _refresh;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private IReadOnlySet<(string Subject, string KeyHash)> _suppressed = new HashSet<(string, string)>();
    private DateTimeOffset _loadedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;
    private (DateTime, long) _file;
    private SqliteConnection? _connection;
    private long _dataVersion;

    public SqliteSuppressionView(string path, TimeSpan refresh, TimeProvider time)
    {
        _path = path;
        _refresh = refresh;
        _time = time;
    }

    /// <summary>How often the ledger is looked at for a change.</summary>
    public static TimeSpan ChangeCheckInterval { get; } = TimeSpan.FromMilliseconds(20);

    public ValueTask<IReadOnlySet<(string Subject, string KeyHash)>> CurrentAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(Current());
        }
    }

    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            Close();
        }

        return ValueTask.CompletedTask;
    }

    private IReadOnlySet<(string Subject, string KeyHash)> Current()
    {
        var now = _time.GetUtcNow();
        if (now - _checkedAt < ChangeCheckInterval)
        {
            return _suppressed;
        }

        _checkedAt = now;
        var file = (File.GetLastWriteTimeUtc(_path), Length(_path));
        if (file != _file)
        {
            // Created, checkpointed or replaced: read it afresh through a new connection.
            _file = file;
            Close();
        }

        if (_connection is null)
        {
            _connection = SqliteSuppressionLedger.OpenForReading(_path);
            if (_connection is null)
            {
                _suppressed = new HashSet<(string, string)>();
                return _suppressed;
            }

            _loadedAt = DateTimeOffset.MinValue;
        }

        var version = SqliteSuppressionLedger.DataVersion(_connection);
        if (version == _dataVersion && now - _loadedAt < _refresh)
        {
            return _suppressed;
        }

        _dataVersion = version;
        _loadedAt = now;
        _suppressed = SqliteSuppressionLedger.ReadSuppressed(_connection);
        return _suppressed;
    }

    private void Close()
    {
        _connection?.Dispose();
        _connection = null;
    }

    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : -1;
    }
}
