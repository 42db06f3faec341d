using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Sync.Sources.File;

/// <summary>A changelog file: JSON Lines, one message per line (see the README for the format).</summary>
public sealed class FileSourceOptions : IValidatable
{
    [Required]
    [FilePath]
    [Description("Path of the changelog file, relative to the config file's folder.")]
    public string Path { get; set; } = string.Empty;

    [Description("Keep reading as the file grows (like `tail -f`) instead of ending at the end of the file.")]
    public bool Follow { get; set; }

    [Description("How often a following reader looks for new lines.")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        problems.MustBePositive($"{path}.pollInterval", PollInterval);

        return problems;
    }
}
