using Spectre.Console;
using Sync.Engine.Verify;

namespace Sync.Cli.Commands;

/// <summary><c>sync status --config F [--materializer NAME]... [--json]</c>: where each materializer stands.</summary>
internal static class StatusCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var materializers = new Option<string[]>("--materializer", "-m") { Description = "Only this materializer (repeat for several). Default: all." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new ConfiguredCommand("status", "Show, per materializer and topic, the checkpoint stored with the data, the topic's last position, how many messages are still to apply, and the dead-letter count. Changes no data.")
        {
            materializers, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            IReadOnlyList<TopicStatus> rows = [];
            var read = await SyncHost.RunWithConfigAsync(parse.GetRequiredValue(command.Config), components, error, async loaded =>
            {
                rows = await new StatusReader(loaded, components).ReadAsync(parse.GetValue(materializers) ?? [], cancellationToken);
                return ExitCodes.Ok;
            });
            if (read != ExitCodes.Ok)
            {
                return read;
            }

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(ReportJson.Serialize(rows));
                return rows.Any(r => r.Problem is not null) ? ExitCodes.Failure : ExitCodes.Ok;
            }

            var console = PlainConsole.Create(output, 160);
            var table = new Table().Border(TableBorder.Simple)
                .AddColumn("materializer").AddColumn("target").AddColumn("topic").AddColumn("checkpoint").AddColumn("last")
                .AddColumn(new TableColumn("behind").RightAligned()).AddColumn(new TableColumn("dead letters").RightAligned());
            foreach (var row in rows)
            {
                table.AddRow(
                    Markup.Escape(row.Materializer),
                    Markup.Escape(row.Target),
                    Markup.Escape(row.Topic),
                    row.Checkpoint ?? "-",
                    row.Last,
                    row.Behind?.ToString(CultureInfo.InvariantCulture) ?? "?",
                    row.DeadLetters.ToString(CultureInfo.InvariantCulture));
            }

            console.Write(table);
            foreach (var row in rows.Where(r => r.Warning is not null))
            {
                await output.WriteLineAsync($"warning: {row.Warning}");
            }

            foreach (var healing in rows.Where(r => r.Healing).Select(r => r.Materializer).Distinct(StringComparer.Ordinal))
            {
                await output.WriteLineAsync($"healing: materializer '{healing}': its sink went back in time and `sync run` is replaying what it lost; the target is incomplete and the checkpoint holds until the replay catches up");
            }

            foreach (var group in rows.Select(r => r.GroupHealing).OfType<GroupHealing>().Distinct())
            {
                var count = group.RollbacksInARow > 0
                    ? $"{group.RollbacksInARow} {(group.RollbacksInARow == 1 ? "time" : "times")} in a row; the group stops at {SyncRuntime.MaxGroupRollbacks}"
                    : "the count in a row is not known: the run stopped while it healed";
                var members = string.Join(", ", rows.Where(r => r.GroupHealing == group).Select(r => r.Materializer).Distinct(StringComparer.Ordinal));
                await output.WriteLineAsync($"healing: consistency group '{group.Group}' ({members}): its sink went back in time ({count}) and `sync run` reads again from the checkpoints the sink holds, applying whole transactions; the tables lack what was lost until the group is past where it was");
            }

            foreach (var materializer in rows.DistinctBy(r => r.Materializer, StringComparer.Ordinal))
            {
                await output.WriteLineAsync($"materializer '{materializer.Materializer}': {LastVerification.Describe(materializer.Verified)}");
            }

            var problems = rows.Select(r => r.Problem).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            foreach (var problem in problems)
            {
                await error.WriteLineAsync($"error: {problem}");
            }

            return problems.Count > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        });
        return command;
    }
}
