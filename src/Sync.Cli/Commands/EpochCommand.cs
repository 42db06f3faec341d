using System.Text.Json;

namespace Sync.Cli.Commands;

/// <summary><c>sync epoch bump --config F --materializer NAME --reason TEXT [--by WHO]</c>: declares that
/// a materializer's source went back in time without a new snapshot, so that its next changes count as
/// newer than everything applied (docs/operations.md, "Source failovers, restores and migrations").</summary>
internal static class EpochCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var materializer = new Option<string>("--materializer", "-m") { Description = "The materializer whose source went back in time.", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why (kept in the record): the restore, failover or migration it follows.", Required = true };
        var by = new Option<string?>("--by") { Description = "Who declares it (kept in the record). Default: the operating-system user." };
        var bump = new ConfiguredCommand("bump", "Declare that the source of a materializer went back in time (a restore or a move to a new cluster, with no new snapshot): each of its topics starts a new source epoch at its next change, which then counts as newer than everything applied. A running materializer takes it in within 5 s, before its next batch. The declaration is stored in the sink beside its checkpoint and appended to <materializer>.epochs.jsonl beside the config.")
        {
            materializer, reason, by,
        };
        bump.SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            var name = parse.GetRequiredValue(materializer);
            var why = parse.GetRequiredValue(reason);
            if (string.IsNullOrWhiteSpace(why))
            {
                await error.WriteLineAsync("error: --reason must say why the epoch changes");
                return ExitCodes.Usage;
            }

            var who = parse.GetValue(by) is { Length: > 0 } named ? named : Environment.UserName;
            var configFile = parse.GetRequiredValue(bump.Config);
            return await SyncHost.RunWithConfigAsync(configFile, components, error, async loaded =>
            {
                var result = await EpochBump.DeclareAsync(loaded, components, name, who, why, DateTimeOffset.UtcNow, cancellationToken);
                var record = Path.Combine(Path.GetDirectoryName(configFile.FullName) ?? ".", $"{name}.epochs.jsonl");
                await File.AppendAllTextAsync(record, JsonSerializer.Serialize(new { at = result.At, materializer = name, by = who, reason = why, topics = result.Streams }) + "\n", cancellationToken);
                await output.WriteLineAsync($"materializer {name}: a new source epoch starts at the next change of {string.Join(", ", result.Streams)}; declared by {who}: {why} (recorded in {record})");
                return ExitCodes.Ok;
            });
        });
        return new Command("epoch", "Source epochs: a source that went back in time (failover, restore, new cluster).") { bump };
    }
}
