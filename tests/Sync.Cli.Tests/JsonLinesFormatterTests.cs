using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Cli.Logging;

namespace Sync.Cli.Tests;

/// <summary>One log event is one line of JSON, whatever its message holds.</summary>
public sealed class JsonLinesFormatterTests
{
    [Fact]
    public void A_message_with_quotes_and_line_breaks_stays_one_line_with_its_template_values_as_fields()
    {
        IReadOnlyList<KeyValuePair<string, object?>> state =
        [
            new("Materializer", "customers"),
            new("Sink", "local"),
            new("Seconds", 1.5),
            new("Message", "a template value named like a line field"),
            new("{OriginalFormat}", "{Materializer}: sink {Sink} said {Message}; again in {Seconds} s"),
        ];
        var entry = new LogEntry<IReadOnlyList<KeyValuePair<string, object?>>>(
            LogLevel.Warning, "sync.customers", new EventId(7), state, new InvalidOperationException("boom"), (_, _) => "customers: sink local said \"no\"\nline two; again in 1.5 s");
        using var writer = new StringWriter();

        new JsonLinesFormatter().Write(entry, null, writer);

        var text = writer.ToString();
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', text.TrimEnd('\n'));
        using var line = JsonDocument.Parse(text);
        var root = line.RootElement;
        Assert.Equal("warning", root.GetProperty("level").GetString());
        Assert.Equal("sync.customers", root.GetProperty("category").GetString());
        Assert.Equal("customers: sink local said \"no\"\nline two; again in 1.5 s", root.GetProperty("message").GetString());
        Assert.Equal("customers", root.GetProperty("materializer").GetString());
        Assert.Equal("local", root.GetProperty("sink").GetString());
        Assert.Equal(1.5, root.GetProperty("seconds").GetDouble());
        Assert.Contains("boom", root.GetProperty("exception").GetString(), StringComparison.Ordinal);
        Assert.False(root.TryGetProperty("{OriginalFormat}", out _));
        Assert.Equal(
            ["timestamp", "level", "category", "message", "materializer", "sink", "seconds", "exception"],
            root.EnumerateObject().Select(p => p.Name).ToArray());
    }
}
