using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Sync.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<FileInfo> Config() => new("--config", "-c")
    {
        Description = "The sync config file (YAML).",
        Required = true,
    };

    public static Option<LogLevel> LogLevel() => new("--log-level")
    {
        Description = "Least severe log messages to print on standard error.",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Warning,
    };
}
