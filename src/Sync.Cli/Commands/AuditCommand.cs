using Sync.Compliance.Audit;

namespace Sync.Cli.Commands;

/// <summary><c>sync audit topics --config F [--json]</c>: what the topics keep that erasure by key cannot reach.</summary>
internal static class AuditCommand
{
    /// <summary>Exit code when the audit found messages that keep personal data out of erasure's reach.</summary>
    public const int Findings = 3;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var audit = new Command("audit", "Audit what the configured topics keep, for GDPR erasure.");
        var config = CommonOptions.Config();
        var json = new Option<bool>("--json") { Description = "Print the audit as JSON instead of text." };
        var topics = new Command("topics", "Scan every configured source's topics: keys whose compacted state is a delete event still carrying a before-image, messages without a key (compaction drops them, erasure cannot find them), and each topic's retention and compaction settings, with advice. Exit 0 when clean, 3 when anything was found, 2 for a bad config, 1 when a topic cannot be read.")
        {
            config, json,
        };
        topics.SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            if (await SyncHost.LoadConfigAsync(parse.GetRequiredValue(config), components, error) is not { } loaded)
            {
                return ExitCodes.Usage;
            }

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

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(TopicAuditWriter.ToJson(report));
            }
            else
            {
                TopicAuditWriter.WriteText(output, report);
            }

            return report.Findings == 0 ? ExitCodes.Ok : Findings;
        });
        audit.Subcommands.Add(topics);
        return audit;
    }
}
