namespace Sync.Sinks.Sqlite;

/// <summary><c>sync check</c> of a SQLite sink: the database file, or the folder it will be created
/// in, can be written (SQLite also writes its journal and WAL files next to it).</summary>
public sealed class SqlitePreflightCheck : SinkPreflightCheck<SqliteSinkOptions>
{
    protected override ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, string name, SqliteSinkOptions options, CancellationToken cancellationToken)
    {
        var key = $"sinks.{name}.path";
        var folder = Path.GetDirectoryName(Path.GetFullPath(options.Path))!;
        CheckFinding finding;
        if (!Directory.Exists(folder))
        {
            finding = CheckFinding.Error("file", $"the folder {folder} of {options.Path} does not exist", $"create the folder or fix {key}");
        }
        else
        {
            var probe = Path.Combine(folder, $".sync-check-{Environment.ProcessId}");
            try
            {
                using (File.Create(probe, 1, FileOptions.DeleteOnClose))
                {
                }

                finding = File.Exists(options.Path)
                    ? CheckFinding.Ok("file", $"{options.Path} exists and its folder is writable")
                    : CheckFinding.Ok("file", $"{options.Path} does not exist yet; the sink creates it");
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                finding = CheckFinding.Error("file", $"cannot write in {folder}: {e.Message}", $"give the user sync runs as write permission on {folder} (SQLite writes its journal there), or fix {key}");
            }
        }

        return ValueTask.FromResult<IReadOnlyList<CheckFinding>>([finding]);
    }
}
