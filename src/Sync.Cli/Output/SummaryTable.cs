using Spectre.Console;
using Sync.Engine.Formats;

namespace Sync.Cli.Output;

/// <summary>The table a run prints at its end: one row per materializer.</summary>
internal static class SummaryTable
{
    public static void Write(TextWriter output, RunMode mode, IReadOnlyList<MaterializerOutcome> outcomes)
    {
        // Wide enough that a row never wraps, even with long target names: scripts and logs read
        // the summary line by line, by its header's columns.
        var console = PlainConsole.Create(output, 240);

        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("materializer");
        table.AddColumn("target");
        foreach (var column in new[] { "read", "applied", "deleted", "stale", "collapsed", "suppressed", "unavailable", "skipped", "dead-lettered", "seconds" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        table.AddColumn("status");
        foreach (var o in outcomes)
        {
            var c = o.Counters;
            table.AddRow(
                Markup.Escape(o.Name),
                Markup.Escape($"{o.Sink}/{o.Table}"),
                N(c.Read),
                N(c.Applied),
                N(c.Deleted),
                N(c.SkippedStale),
                N(c.Collapsed),
                N(c.Suppressed),
                N(c.Unavailable),
                N(c.Skipped),
                N(c.DeadLettered),
                o.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture),
                Status(o));
        }

        console.Write(new Text(mode == RunMode.Backfill ? "backfill summary" : "run summary"));
        console.WriteLine();
        console.Write(table);
        foreach (var o in outcomes.Where(o => o.Counters.TombstonesRepaired > 0))
        {
            console.WriteLine($"tombstones repaired by {o.Name}: {N(o.Counters.TombstonesRepaired)} (published after op=d events that had none)");
        }

        foreach (var o in outcomes.Where(o => o.Counters.RepairsSuperseded > 0))
        {
            console.WriteLine($"tombstone repairs dropped by {o.Name}: {N(o.Counters.RepairsSuperseded)} (a later message of the key came before the topic's end)");
        }

        foreach (var o in outcomes.Where(o => o.Counters.RestoredAfterRepair > 0))
        {
            console.WriteLine($"values restored by {o.Name}: {N(o.Counters.RestoredAfterRepair)} (published again after a repair tombstone landed behind them)");
        }

        foreach (var o in outcomes.Where(o => o.Counters.Skipped > 0))
        {
            var kinds = Enum.GetValues<NonRowKind>().Where(k => o.Counters.SkippedOf(k) > 0).Select(k => $"{N(o.Counters.SkippedOf(k))} {NonRowMessage.NameOf(k)}");
            output.WriteLine($"skipped by {o.Name}: {string.Join(", ", kinds)} (Debezium messages that are not row changes)");
        }

        foreach (var o in outcomes.Where(o => o.Counters.DeadLettered > 0))
        {
            // Not through the console, which would wrap a long path at its width.
            output.WriteLine($"dead letters of {o.Name}: {N(o.Counters.DeadLettered)} in this run, written to {o.DeadLetterTarget} (sync dlq list counts them, sync dlq replay feeds them again after a fix)");
        }
    }

    /// <summary>ok only when the source's end was reached and nothing was dead-lettered: a run that
    /// wrote letters says so, one stopped before its end says interrupted, and a source without an
    /// end (a followed file, a subscription) stopped on request says stopped.</summary>
    private static string Status(MaterializerOutcome o) => o.Failure switch
    {
        ErrorPolicyException => "stopped by errors",
        not null => "failed",
        null when o.End == MaterializerEnd.Interrupted => "interrupted",
        null when o.Counters.DeadLettered > 0 => "dead letters",
        null when o.End == MaterializerEnd.Stopped => "stopped",
        _ => "ok",
    };

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
