using Sync.Compliance.Audit;

namespace Sync.Cli.Commands;

/// <summary><c>sync audit topics --config F [--json]</c>: what the topics keep that erasure by key cannot reach.</summary>
internal static class AuditCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var audit = new Command("audit", "Audit what the configured topics keep, for GDPR erasure.");
        var json = new Option<bool>("--json") { Description = "Print the audit as JSON instead of text." };
        var topics = new ConfiguredCommand("topics", "Scan every configured source's topics: keys whose compacted state is a delete event still carrying a before-image, messages without a key (compaction drops them, erasure cannot find them), and each topic's retention and compaction settings, with advice. Exit 0 when clean, 3 when anything was found, 2 for a bad config, 1 when a topic cannot be read.")
        {
            json,
        };
        topics.SetConfiguredAction(error, async (parse, loaded, components, cancellationToken) =>
        {
            TopicAuditReport report;
            try
            {
                report = await new TopicAuditor(loaded, components).AuditAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
            {
                await error.WriteLineAsync($"error: the audit failed: {e.Message}");
                return ExitCodes.Failure;
            }

            await ReportOutput.WriteAsync(output, parse.GetValue(json), () => TopicAuditWriter.ToJson(report), w => TopicAuditWriter.WriteText(w, report));
            return report.Findings == 0 ? ExitCodes.Ok : ExitCodes.Found;
        });
        audit.Subcommands.Add(topics);
        return audit;
    }
}
