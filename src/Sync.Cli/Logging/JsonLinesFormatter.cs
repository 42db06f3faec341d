using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Sync.Cli.Logging;

/// <summary>Writes each log event as one JSON object on one line, with fields named the same in
/// every release: <c>timestamp</c> (UTC, ISO 8601), <c>level</c>, <c>category</c>, <c>message</c>,
/// then every value of the message template as its own field, named after the placeholder in
/// camel case (<c>{Materializer}</c> becomes <c>materializer</c>, <c>{Sink}</c> <c>sink</c>,
/// <c>{Topic}</c> <c>topic</c>), and <c>exception</c> when the event carries one.
/// <para>The built-in JSON console formatter nests the template values under <c>State</c> and names
/// its fields in Pascal case (see Microsoft.Extensions.Logging.Console's JsonConsoleFormatter,
/// https://learn.microsoft.com/dotnet/core/extensions/console-log-formatters#json); a collector
/// filtering on <c>materializer</c> needs them at the top level. The values are the ones the text
/// line shows, so a JSON line tells nothing the text line does not: no row value and no secret is
/// ever a template value.</para></summary>
public sealed class JsonLinesFormatter : ConsoleFormatter
{
    public const string FormatterName = "sync-json";

    private const string OriginalFormat = "{OriginalFormat}";

    // Fields of the line itself: a template value of the same name is not written twice.
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal) { "timestamp", "level", "category", "message", "exception", "eventId" };

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        // Messages quote paths and names; keep them readable (JSON stays valid: control characters
        // and quotes are still escaped).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly TimeProvider _time;

    public JsonLinesFormatter()
        : this(TimeProvider.System)
    {
    }

    public JsonLinesFormatter(TimeProvider time)
        : base(FormatterName) => _time = time;

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        ArgumentNullException.ThrowIfNull(textWriter);
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", _time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("level", LevelName(logEntry.LogLevel));
            json.WriteString("category", logEntry.Category);
            json.WriteString("message", message ?? string.Empty);
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> values)
            {
                var written = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (key, value) in values)
                {
                    var name = FieldName(key);
                    if (key == OriginalFormat || Reserved.Contains(name) || !written.Add(name))
                    {
                        continue;
                    }

                    WriteValue(json, name, value);
                }
            }

            if (logEntry.Exception is { } exception)
            {
                json.WriteString("exception", exception.ToString());
            }

            json.WriteEndObject();
        }

        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        textWriter.Write('\n');
    }

    /// <summary>The level as a lower-case word: trace, debug, information, warning, error, critical.</summary>
    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "information",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };

    /// <summary>A template placeholder's name in camel case: <c>Materializer</c> -> <c>materializer</c>.</summary>
    public static string FieldName(string placeholder)
    {
        ArgumentNullException.ThrowIfNull(placeholder);
        return placeholder.Length == 0 || char.IsLower(placeholder[0])
            ? placeholder
            : string.Concat(char.ToLowerInvariant(placeholder[0]).ToString(), placeholder.AsSpan(1));
    }

    private static void WriteValue(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNull(name);
                break;
            case bool b:
                json.WriteBoolean(name, b);
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                json.WriteNumber(name, Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double d when double.IsFinite(d):
                json.WriteNumber(name, d);
                break;
            case float f when float.IsFinite(f):
                json.WriteNumber(name, f);
                break;
            case decimal m:
                json.WriteNumber(name, m);
                break;
            case IFormattable formattable:
                json.WriteString(name, formattable.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                json.WriteString(name, value.ToString());
                break;
        }
    }
}
