using System.Text;
using Sync.Engine.Changes;
using Sync.Engine.Sources;
using Sync.Sources.File;

namespace Sync.Cli.Commands;

/// <summary><c>sync dump --config F [--source S] [--topic T]... [--compacted] [--from P] [--until P]</c>:
/// writes topics in the changelog file format on standard output.</summary>
internal static class DumpCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var source = new Option<string?>("--source") { Description = "The source to read. Default: the only source of the config." };
        var topics = new Option<string[]>("--topic", "-t") { Description = "A topic to write (repeat for several). Default: every topic." };
        var compacted = new Option<bool>("--compacted") { Description = "Write the compacted view (the latest message per key, deleted keys left out) instead of every message." };
        var from = new Option<string?>("--from") { Description = "First position to write (ledger:entry:batch, as `sync status` shows)." };
        var until = new Option<string?>("--until") { Description = "Last position to write." };
        var command = new ConfiguredCommand("dump", "Write topics in the changelog file format on standard output, to archive them or replay them offline with a file source.")
        {
            source, topics, compacted, from, until,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            SyncConfig loaded;
            StreamPosition? first, last;
            try
            {
                loaded = ConfigLoader.Load(parse.GetRequiredValue(command.Config).FullName, components.Types);
                first = Position(parse.GetValue(from), "--from");
                last = Position(parse.GetValue(until), "--until");
            }
            catch (ConfigException e)
            {
                await SyncHost.PrintProblemsAsync(error, e);
                return ExitCodes.Usage;
            }
            catch (FormatException e)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }

            var name = parse.GetValue(source) ?? (loaded.Sources.Count == 1 ? loaded.Sources.Keys.Single() : null);
            if (name is null || !loaded.Sources.TryGetValue(name, out var sourceConfig))
            {
                await error.WriteLineAsync($"error: --source must name one of: {string.Join(", ", loaded.Sources.Keys.Order(StringComparer.Ordinal))}");
                return ExitCodes.Usage;
            }

            // A short name is completed as everywhere else: db1.public.users is persistent://public/default/db1.public.users.
            var wanted = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var topic in parse.GetValue(topics) ?? [])
            {
                if (FullName(topic) is not { } full)
                {
                    await error.WriteLineAsync($"error: --topic {topic} must be a short name, tenant/namespace/name or a full persistent:// name");
                    return ExitCodes.Usage;
                }

                wanted.TryAdd(full, topic);
            }

            // The topics the source has (a line of the file, a topic of the broker's namespaces) that were asked for.
            var found = new HashSet<string>(StringComparer.Ordinal);
            bool Filter(string topic)
            {
                if (wanted.Count == 0)
                {
                    return true;
                }

                if (FullName(topic) is { } full && wanted.ContainsKey(full))
                {
                    found.Add(full);
                    return true;
                }

                return false;
            }

            try
            {
                await using var log = components.Sources[sourceConfig.Type].OpenLog(sourceConfig);
                var messages = parse.GetValue(compacted) ? log.ReadCompactedAsync(Filter, cancellationToken) : log.ScanRawAsync(Filter, cancellationToken);
                await foreach (var message in messages)
                {
                    if ((first is { } f && message.Position < f) || (last is { } l && message.Position > l))
                    {
                        continue;
                    }

                    await output.WriteLineAsync(Encoding.UTF8.GetString(ChangelogLineWriter.ToLine(message)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Failure;
            }

            // A topic the source does not have is an error; one it has may legitimately write nothing
            // (empty, every key deleted in the compacted view, or nothing between --from and --until).
            var missing = wanted.Where(w => !found.Contains(w.Key)).ToList();
            foreach (var (full, given) in missing)
            {
                var shown = full == given ? full : $"{given} ({full})";
                await error.WriteLineAsync($"error: topic {shown} does not exist on source {name}");
            }

            return missing.Count > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        });
        return command;
    }

    private static string? FullName(string topic)
    {
        try
        {
            return Sync.Pulsar.TopicName.Normalize(topic);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static StreamPosition? Position(string? text, string option)
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            return StreamPosition.Parse(text);
        }
        catch (FormatException)
        {
            throw new FormatException($"{option} ({text}) must be a position ledger:entry:batch, e.g. 0:17:-1");
        }
    }
}
