namespace Sync.Sources.File;

/// <summary><c>sync check</c> of a changelog file: it exists and this process may read it.</summary>
public sealed class FileSourceCheck : IPreflightCheck
{
    public ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var options = (FileSourceOptions)scope.Component.Options;
        var key = $"sources.{scope.Component.Name}.path";
        CheckFinding finding;
        if (!System.IO.File.Exists(options.Path))
        {
            finding = options.Follow
                ? CheckFinding.Warning("file", $"{options.Path} does not exist yet; with follow: true the run waits for it", $"check {key} if the file should be there already")
                : CheckFinding.Error("file", $"{options.Path} does not exist", $"fix {key} (relative paths start at the config file's folder) or create the file");
        }
        else
        {
            try
            {
                using var stream = new FileStream(options.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                finding = CheckFinding.Ok("file", $"{options.Path} is readable ({stream.Length} bytes)");
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                finding = CheckFinding.Error("file", $"{options.Path} cannot be read: {e.Message}", $"give the user sync runs as read permission on the file, or fix {key}");
            }
        }

        return ValueTask.FromResult<IReadOnlyList<CheckFinding>>([finding]);
    }
}
