namespace Sync.Cli;

/// <summary>The name the program was started as, for help and the hints in messages: the installed
/// .NET tool is <c>cdc-sync</c>, while <c>sync</c> on PATH is coreutils' (it flushes file systems).</summary>
internal static class ProgramName
{
    /// <summary>Set by a launcher that starts the program through <c>dotnet sync.dll</c> (./sync in
    /// the repository), where the process itself is <c>dotnet</c>.</summary>
    public const string Variable = "SYNC_PROGRAM_NAME";

    /// <summary><see cref="Variable"/> when set; else the started executable's file name (the tool's
    /// shim, an apphost named after the tool command); else, under <c>dotnet</c>, the assembly's
    /// name. System.CommandLine names the root command after the entry assembly, which is
    /// <c>sync</c> under every one of these names.</summary>
    public static string Current
    {
        get
        {
            if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
            {
                return given;
            }

            var executable = Path.GetFileNameWithoutExtension(Environment.ProcessPath);
            return string.IsNullOrEmpty(executable) || executable == "dotnet" ? RootCommand.ExecutableName : executable;
        }
    }

    /// <summary>Help text with the root command's name replaced by <paramref name="program"/> in its
    /// usage lines (the indented lines under <c>Usage:</c>), and nowhere else.</summary>
    public static string InUsage(string help, string rootName, string program)
    {
        var lines = help.Split('\n');
        var inUsage = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line == "Usage:")
            {
                inUsage = true;
                continue;
            }

            if (!line.StartsWith("  ", StringComparison.Ordinal))
            {
                inUsage = false;
                continue;
            }

            var command = line.TrimStart();
            if (inUsage && (command == rootName || command.StartsWith(rootName + " ", StringComparison.Ordinal)))
            {
                lines[i] = lines[i][..(line.Length - command.Length)] + program + lines[i][(line.Length - command.Length + rootName.Length)..];
            }
        }

        return string.Join('\n', lines);
    }
}
