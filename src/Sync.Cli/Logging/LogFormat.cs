namespace Sync.Cli.Logging;

/// <summary>How log lines are written on standard error (<c>--log-format</c>).</summary>
public enum LogFormat
{
    /// <summary>One readable line per event: time, level, category, message.</summary>
    Text,

    /// <summary>One JSON object per line (<see cref="JsonLinesFormatter"/>), for log collectors.</summary>
    Json,
}
