using Sync.Engine.Changes;
using Sync.Engine.Sources;
using Sync.Sources.File;
using Sync.Engine.Topics;

namespace Sync.Cli.Commands;

/// <summary><c>sync publish --config F --file changelog.jsonl [--source NAME]</c>: the inverse of
/// <c>sync dump</c>: publishes a changelog file to its topics on a Pulsar source.</summary>
internal static class PublishCommand
{
    /// <summary>Problems printed before giving up on a file; the count says how many there were.</summary>
    private const int MaxProblemsShown = 20;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "The changelog file (JSON Lines, as `sync dump` writes and the file source reads).", Required = true };
        var source = new Option<string?>("--source") { Description = "The pulsar source to publish to. Default: the only pulsar source of the config." };
        var keyValue = new Option<string?>("--key-value")
        {
            Description = "Send every line that does not say otherwise (a \"keyValue\" field) as a Pulsar KeyValue message: `inline` (key and value in the payload, as Pulsar IO writes with json-with-envelope: true) or `separated` (payload = value, key = message key), with the KEY_VALUE schema of that encoding.",
        };
        keyValue.AcceptOnlyFromAmong("inline", "separated", "none");
        var command = new ConfiguredCommand("publish", "Publish a changelog file to its topics on a Pulsar source: keys with their encoding, null values as tombstones, properties and event time (publish times are those of the new messages). The whole file is checked first; nothing is published when a line is invalid.")
        {
            file, source, keyValue,
        };
        command.SetConfiguredAction(error, async (parse, loaded, components, cancellationToken) =>
        {
            // Sources that can be published to; opening a publisher connects to nothing yet.
            var publishers = new SortedDictionary<string, IChangelogPublisher>(StringComparer.Ordinal);
            foreach (var candidate in loaded.Sources.Values)
            {
                if (components.Sources[candidate.Type].OpenPublisher(candidate) is { } opened)
                {
                    publishers[candidate.Name] = opened;
                }
            }

            var name = parse.GetValue(source) ?? (publishers.Count == 1 ? publishers.Keys.Single() : null);
            foreach (var unused in publishers.Where(p => p.Key != name).Select(p => p.Value))
            {
                await unused.DisposeAsync();
            }

            if (name is null || !publishers.TryGetValue(name, out var chosen))
            {
                await error.WriteLineAsync(publishers.Count == 0
                    ? "error: the config has no source that can be published to (a pulsar source)"
                    : $"error: --source must name one of: {string.Join(", ", publishers.Keys)}");
                return ExitCodes.Usage;
            }

            await using var publisher = chosen;

            var path = parse.GetRequiredValue(file).FullName;
            if (!File.Exists(path))
            {
                await error.WriteLineAsync($"error: {path} does not exist");
                return ExitCodes.Usage;
            }

            var fileName = Path.GetFileName(path);
            var encoding = parse.GetValue(keyValue) switch
            {
                "inline" => KeyValueEncoding.Inline,
                "separated" => KeyValueEncoding.Separated,
                _ => KeyValueEncoding.None,
            };

            // Pass one: every line must be a message that can be published exactly as written.
            var problems = new List<string>();
            long lines = 0;
            await foreach (var (line, message) in ReadAsync(path, cancellationToken))
            {
                lines++;
                var problem = message.Error ?? publisher.Check(message.Message!);
                if (problem is not null)
                {
                    problems.Add($"{fileName}:{line.Number}: {problem}");
                }
            }

            if (problems.Count > 0)
            {
                await error.WriteLineAsync($"error: {fileName} has {problems.Count} invalid line(s); nothing was published:");
                foreach (var problem in problems.Take(MaxProblemsShown))
                {
                    await error.WriteLineAsync($"  {problem}");
                }

                return ExitCodes.Usage;
            }

            // Pass two: publish, in file order per topic.
            var perTopic = new SortedDictionary<string, (long Messages, long Tombstones)>(StringComparer.Ordinal);
            try
            {
                await foreach (var (_, message) in ReadAsync(path, cancellationToken))
                {
                    var m = KeyValuePayload.As(message.Message!, encoding);
                    await publisher.PublishAsync(m, cancellationToken);
                    var (count, tombstones) = perTopic.GetValueOrDefault(m.Topic);
                    perTopic[m.Topic] = (count + 1, tombstones + (m.HasValue ? 0 : 1));
                }

                await publisher.FlushAsync(cancellationToken);
            }
            catch (SourceException e)
            {
                await error.WriteLineAsync($"error: {e.Message}; messages before it may have been published, and publishing the file again repeats them");
                return ExitCodes.Failure;
            }

            await output.WriteLineAsync($"published {N(perTopic.Values.Sum(t => t.Messages))} messages from {fileName} to source {name}");
            foreach (var (topic, (count, tombstones)) in perTopic)
            {
                await output.WriteLineAsync($"  {topic}  {N(count)} messages, {N(tombstones)} tombstones");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async IAsyncEnumerable<(ChangelogLine Line, (SourceMessage? Message, string? Error) Message)> ReadAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var line in ChangelogLines.ReadAsync(path, cancellationToken))
        {
            if (line.Bytes.IsEmpty)
            {
                continue;
            }

            (SourceMessage?, string?) parsed;
            try
            {
                parsed = (ChangelogLineParser.Parse(line.Bytes, new StreamPosition(0, line.Number, -1), out _), null);
            }
            catch (FormatException e)
            {
                parsed = (null, e.Message);
            }

            yield return (line, parsed);
        }
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
