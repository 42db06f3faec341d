namespace Sync.Bench.Micro;

internal static class Repository
{
    /// <summary>The repository root (the folder of Sync.slnx), found from the working directory or the binary.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Sync.slnx")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("run from inside the repository");
    }
}
