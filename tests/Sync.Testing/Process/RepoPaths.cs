namespace Sync.Testing.Process;

/// <summary>Where the repository and the built CLI are, found from the test's own folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Examples => Path.Combine(Root, "examples");

    /// <summary>The CLI assembly copied next to the test assembly by the project reference.</summary>
    public static string CliAssembly => Path.Combine(AppContext.BaseDirectory, "sync.dll");

    /// <summary>Above the test's own folder, else above the current folder, else above this
    /// source file (builds with an artifacts path outside the repository).</summary>
    private static string FindRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory, Path.GetDirectoryName(source) ?? "/" })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Sync.slnx")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException($"no Sync.slnx above {AppContext.BaseDirectory}");
    }
}
