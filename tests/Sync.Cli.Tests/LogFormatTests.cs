namespace Sync.Cli.Tests;

/// <summary><c>--log-format</c>: JSON lines with stable fields, lifecycle lines in both formats, and
/// never a row value or a secret in any log line, whatever the level.</summary>
public sealed class LogFormatTests : WorkspaceTests
{
    private const string RowCanary = "row-canary-5d1e0b";
    private const string SecretCanary = "secret-canary-9a4c77";
    private const string Topic = "persistent://public/default/db1.public.customers";

    [Fact]
    public async Task Json_lines_carry_the_stable_fields_and_the_lifecycle_of_a_run()
    {
        var config = WriteConfig();

        var run = await Workspace.Sync("run", "--config", config, "--log-level", "trace", "--log-format", "json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = JsonLines(run.Error);
        Assert.All(lines, line =>
        {
            foreach (var field in new[] { "timestamp", "level", "category", "message" })
            {
                Assert.True(line.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String, $"no {field} in {line}");
            }

            Assert.True(DateTimeOffset.TryParse(line.GetProperty("timestamp").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _), line.ToString());
        });

        var starting = Single(lines, "sync", "starting run");
        Assert.Equal("information", starting.GetProperty("level").GetString());
        Assert.Equal(config, starting.GetProperty("configFile").GetString());
        Assert.False(string.IsNullOrEmpty(starting.GetProperty("version").GetString()));
        var loaded = Single(lines, "sync", "config loaded");
        Assert.Equal(1, loaded.GetProperty("materializerCount").GetInt32());
        Assert.Equal("changelog, broker", loaded.GetProperty("sources").GetString());
        var opened = Single(lines, "sync.customers", "reading source");
        Assert.Equal("customers", opened.GetProperty("materializer").GetString());
        Assert.Equal("local", opened.GetProperty("sink").GetString());
        Assert.Equal("the start (no checkpoint stored)", opened.GetProperty("startPosition").GetString());
        var first = Single(lines, "sync.customers", "first message received");
        Assert.Equal(Topic, first.GetProperty("topic").GetString());
        Assert.Equal("0:1:-1", first.GetProperty("position").GetString());
        var ended = Single(lines, "sync.customers", "stopped (");
        Assert.StartsWith("finished", ended.GetProperty("stopReason").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, ended.GetProperty("read").GetInt64());
        var stopping = Single(lines, "sync", "stopping:");
        Assert.Equal("finished", stopping.GetProperty("stopReason").GetString());
        Assert.Equal(0, stopping.GetProperty("exitCode").GetInt32());

        // The second run starts from the checkpoint the first stored.
        var again = await Workspace.Sync("run", "--config", config, "--log-level", "trace", "--log-format", "json");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.StartsWith("the checkpoint ", Single(JsonLines(again.Error), "sync.customers", "reading source").GetProperty("startPosition").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    public async Task No_log_line_holds_a_row_value_or_a_secret_at_trace(string format)
    {
        var config = WriteConfig();

        var run = await Workspace.Sync("run", "--config", config, "--log-level", "trace", "--log-format", format);

        Assert.True(run.ExitCode == 0, run.ToString());
        // The row was written: the canary is in the data, so its absence from the logs means something.
        Assert.Contains(SqliteTables.Rows(Workspace.File("logs.db"), "customers"), row => row.Contains(RowCanary, StringComparison.Ordinal));
        Assert.Contains("first message received", run.Error, StringComparison.Ordinal);
        foreach (var canary in new[] { RowCanary, SecretCanary })
        {
            Assert.DoesNotContain(canary, run.Error, StringComparison.Ordinal);
            Assert.DoesNotContain(canary, run.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Text_stays_the_default_and_shows_the_lifecycle_lines()
    {
        var config = WriteConfig();

        var run = await Workspace.Sync("run", "--config", config, "--log-level", "information");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.DoesNotContain("{\"timestamp\"", run.Error, StringComparison.Ordinal);
        foreach (var expected in new[] { "starting run with config", "config loaded: 1 materializer(s)", "customers: reading source changelog (file) into sink local", "customers: first message received from", "customers: stopped (finished", "stopping: finished; exit code 0" })
        {
            Assert.Contains(expected, run.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_unknown_log_format_is_a_usage_error()
    {
        var run = await Workspace.Sync("run", "--config", WriteConfig(), "--log-format", "xml");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("xml", run.Error, StringComparison.Ordinal);
    }

    /// <summary>A changelog with the row canary in a value, and a config with the secret canary as a
    /// sink password and a source token (neither used: they only have to be loaded).</summary>
    private string WriteConfig()
    {
        var lines = File.ReadLines(Path.Combine(Workspace.Examples, "data", "changelog.jsonl"))
            .Where(l => l.Contains(Topic, StringComparison.Ordinal))
            .Take(2)
            .Select(l => l.Replace("Ada Lovelace", RowCanary, StringComparison.Ordinal))
            .ToList();
        Assert.Contains(RowCanary, lines[0], StringComparison.Ordinal);
        Workspace.Write("canary.jsonl", string.Join('\n', lines) + "\n");
        return Workspace.Write("logs.yaml", $$"""
            sources:
              changelog: { type: file, path: canary.jsonl }
              broker: { type: pulsar, serviceUrl: 'pulsar://127.0.0.1:1', adminUrl: 'http://127.0.0.1:1', token: '{{SecretCanary}}' }
            sinks:
              local: { type: sqlite, path: logs.db }
              warehouse: { type: postgres, connectionString: 'Host=127.0.0.1;Port=1;Username=sync;Password={{SecretCanary}}' }
            materializers:
              customers: { source: changelog, topics: [{{Topic}}], sink: local, table: customers }
            """);
    }

    private static List<JsonElement> JsonLines(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEmpty(lines);
        // Every line on standard error is a JSON object: nothing else is mixed in.
        return [.. lines.Select(line =>
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            return document.RootElement.Clone();
        })];
    }

    private static JsonElement Single(List<JsonElement> lines, string category, string messagePart) =>
        Assert.Single(lines, l => l.GetProperty("category").GetString() == category
            && l.GetProperty("message").GetString()!.Contains(messagePart, StringComparison.Ordinal));
}
