using Spectre.Console;
using Sync.Compliance.Erasure;

namespace Sync.Cli.Output;

/// <summary>Writes an erasure report as JSON (for the record) and as tables (for people).</summary>
internal static class ErasureReportWriter
{
    public static string ToJson(ErasureReport report) => ReportJson.Serialize(report);

    public static void WriteTables(TextWriter output, ErasureReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var console = PlainConsole.Create(output, 160);

        console.WriteLine(report.DryRun
            ? $"erasure plan (dry run: nothing was changed) for subject {report.Subject}"
            : $"erasure {report.RequestId} of subject {report.Subject}, requested by {report.RequestedBy}: {ErasureText.Of(report.Verdict)}");

        var keys = new Table().Border(TableBorder.Simple).AddColumn("key (HMAC-SHA256)").AddColumn("request").AddColumn("verdict");
        foreach (var key in report.Keys)
        {
            keys.AddRow(key.KeyHash, key.RequestId, ErasureText.Of(key.Verdict));
        }

        console.Write(keys);

        var topics = new Table().Border(TableBorder.Simple).AddColumn("topic").AddColumn("materializers")
            .AddColumn(new TableColumn("keys").RightAligned()).AddColumn("tombstones at").AddColumn(new TableColumn("scrubbed").RightAligned()).AddColumn("compaction")
            .AddColumn(new TableColumn("compacted view").RightAligned()).AddColumn(new TableColumn("raw residue").RightAligned());
        foreach (var t in report.Topics)
        {
            topics.AddRow(
                Markup.Escape(t.Topic),
                Markup.Escape(t.Materializers),
                N(t.KeysFound),
                Markup.Escape(t.TombstonePositions.Count == 0 ? "-" : string.Join(", ", t.TombstonePositions)),
                N(t.Scrubbed),
                Markup.Escape(t.MessagesRemoved is { } removed ? $"{t.Compaction} ({removed} removed)" : t.Compaction),
                t.CompactedViewMatches == 0 ? "clean" : $"{t.CompactedViewMatches} left",
                N(t.RawResidue));
        }

        if (report.Topics.Count == 0)
        {
            console.WriteLine("no topic holds the subject");
        }
        else
        {
            console.Write(topics);
        }

        var sinks = new Table().Border(TableBorder.Simple).AddColumn("materializer").AddColumn("target").AddColumn("match")
            .AddColumn(new TableColumn("rows before").RightAligned()).AddColumn(new TableColumn("deleted").RightAligned())
            .AddColumn(new TableColumn("removed by materializers").RightAligned()).AddColumn(new TableColumn("left").RightAligned())
            .AddColumn(new TableColumn("erasure markers").RightAligned());
        foreach (var s in report.Sinks)
        {
            sinks.AddRow(Markup.Escape(s.Materializer), Markup.Escape($"{s.Sink}/{s.Table}"), Markup.Escape(s.Match), N(s.RowsBefore), N(s.Deleted), N(s.RemovedByMaterializers), N(s.Remaining), N(s.ErasureMarkers));
        }

        console.Write(sinks);
        if (report.DeadLetters.Count > 0)
        {
            var letters = new Table().Border(TableBorder.Simple).AddColumn("materializer").AddColumn("dead-letter table")
                .AddColumn(new TableColumn("letters").RightAligned()).AddColumn(new TableColumn("naming the subject").RightAligned())
                .AddColumn(new TableColumn("deleted").RightAligned()).AddColumn(new TableColumn("left").RightAligned())
                .AddColumn(new TableColumn("not decodable").RightAligned());
            foreach (var d in report.DeadLetters)
            {
                letters.AddRow(Markup.Escape(d.Materializer), Markup.Escape(d.Table), N(d.Letters), N(d.NamingSubject), N(d.Deleted), N(d.Remaining), N(d.Unreadable));
            }

            console.Write(letters);
        }

        var t2 = report.Timings;
        foreach (var topic in report.Topics.Where(t => t.Truncation is not null))
        {
            console.WriteLine($"purge-backlog on {topic.Topic}: {topic.Truncation}; raw residue after it: {N(topic.RawResidueAfterTruncation ?? 0)}");
        }

        console.WriteLine(t2.PurgeMs > 0 || report.Topics.Any(t => t.Truncation is not null)
            ? $"timings (ms): plan {t2.PlanMs}, tombstones {t2.TombstonesMs}, compaction {t2.CompactionMs}, sinks {t2.SinksMs}, verify {t2.VerifyMs}, purge {t2.PurgeMs}, total {t2.TotalMs}"
            : $"timings (ms): plan {t2.PlanMs}, tombstones {t2.TombstonesMs}, compaction {t2.CompactionMs}, sinks {t2.SinksMs}, verify {t2.VerifyMs}, total {t2.TotalMs}");
        foreach (var topic in report.Topics.Where(t => t.ResidueUntil is not null))
        {
            console.WriteLine($"residue on {topic.Topic}: {topic.ResidueUntil}");
        }

        foreach (var note in report.Notes)
        {
            console.WriteLine($"note: {note}");
        }
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
