using Microsoft.Extensions.Logging;
using Sync.Cli.Logging;

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
        Description = "Least severe log messages to print on standard error: trace, debug, information (the default: the start, the config loaded, each subscription, progress and the stop reason), warning, error, critical or none.",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
    };

    public static Option<LogFormat> LogFormat() => new("--log-format")
    {
        Description = "How log lines are written on standard error: text (one readable line per event) or json (one JSON object per line with the fields timestamp, level, category, message and materializer, topic, sink where the event has them).",
        DefaultValueFactory = _ => Logging.LogFormat.Text,
    };
}
