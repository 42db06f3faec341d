using Sync.Compliance.Audit;

namespace Sync.Cli.Output;

/// <summary>Writes a topic audit as JSON (for tools) and as a table with advice (for people).</summary>
internal static class TopicAuditWriter
{
    public static string ToJson(TopicAuditReport report) => ReportJson.Serialize(report);

    /// <summary>One block per topic: counts, settings, advice; then the verdict. Plain lines, so
    /// that long topic names and advice never wrap inside table cells.</summary>
    public static void WriteText(TextWriter output, TopicAuditReport report)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(report);
        if (report.Topics.Count == 0)
        {
            output.WriteLine("no topic of the configured materializers holds a message");
        }

        foreach (var t in report.Topics)
        {
            output.WriteLine($"topic {t.Topic} (source {t.Source}, materializers {t.Materializers})");
            var positions = t.DeletePositions.Count == 0 ? string.Empty
                : $" at {string.Join(", ", t.DeletePositions)}{(t.DeletesWithBeforeImage > t.DeletePositions.Count ? ", …" : string.Empty)}";
            output.WriteLine($"  messages {N(t.Messages)}, compacted keys {N(t.CompactedKeys)}, deletes with a before-image {N(t.DeletesWithBeforeImage)}{positions}, keyless {N(t.KeylessMessages)}");
            output.WriteLine($"  retention: {t.Retention}");
            output.WriteLine($"  compaction: {t.Compaction}");
            foreach (var advice in t.Advice)
            {
                output.WriteLine($"  advice: {advice}");
            }

            output.WriteLine();
        }

        output.WriteLine(report.Findings == 0
            ? "clean: no delete keeps a before-image in a compacted view and no message lacks a key"
            : $"{N(report.Findings)} finding(s): messages that keep personal data where erasure by key cannot remove it");
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
