using Microsoft.Extensions.Logging;

namespace Sync.Cli.Logging;

/// <summary>The lifecycle lines of a <c>run</c> or <c>backfill</c> process, at information level
/// (category <c>sync</c>): what started with which config, what the config holds, and why the
/// process stops. The runtime logs each materializer's own lines (category <c>sync.NAME</c>).</summary>
internal static partial class HostLog
{
    public const string Category = "sync";

    [LoggerMessage(Level = LogLevel.Information, Message = "sync {Version} starting {Command} with config {ConfigFile}")]
    public static partial void Starting(ILogger logger, string version, string command, string configFile);

    [LoggerMessage(Level = LogLevel.Information, Message = "config loaded: {MaterializerCount} materializer(s) ({Materializers}), {SourceCount} source(s) ({Sources}), {SinkCount} sink(s) ({Sinks}); running {Selected}")]
    public static partial void ConfigLoaded(ILogger logger, int materializerCount, string materializers, int sourceCount, string sources, int sinkCount, string sinks, string selected);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping: {StopReason}; exit code {ExitCode}")]
    public static partial void Stopping(ILogger logger, string stopReason, int exitCode);
}
