using Sync.Cli.Output;
using Sync.Compliance.Ledger;

namespace Sync.Cli.Commands;

/// <summary><c>sync ledger verify --config F [--json] [--repair] [--materializer NAME]...</c>: the standing
/// proof that every erased subject is still gone from every sink, compacted topic and dead-letter table.</summary>
internal static class LedgerVerifyCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var json = new Option<bool>("--json") { Description = "Print the result as JSON instead of text." };
        var repair = new Option<bool>("--repair") { Description = "Erase what the sweep found (the erasure reuses the requests already recorded), then verify again." };
        var materializers = new Option<string[]>("--materializer") { Description = "Sweep only this materializer (repeatable). Default: every materializer bound to a subject.", AllowMultipleArgumentsPerToken = false };
        var requestedBy = new Option<string?>("--requested-by") { Description = "Who runs the repair, for the ledger. Default: the current user." };
        var verify = new ConfiguredCommand("verify", "Sweep every sink row, every message of the topics' compacted view and every dead-letter table of the materializers bound to a subject, and report each erased subject found again, per request, without keys or values. Memory grows with the ledger's active requests only. Exit 0 when clean, 3 on residue (after --repair: residue left), 2 for a bad config, 1 when a place cannot be read.")
        {
            json, repair, materializers, requestedBy,
        };
        verify.SetConfiguredAction(error, async (parse, loaded, components, cancellationToken) =>
        {
            var only = parse.GetValue(materializers) ?? [];
            var verifier = new LedgerVerifier(loaded, components);
            LedgerVerification result;
            try
            {
                result = parse.GetValue(repair)
                    ? await verifier.VerifyAndRepairAsync(only, parse.GetValue(requestedBy) ?? Environment.UserName, cancellationToken)
                    : await verifier.VerifyAsync(only, cancellationToken);
            }
            catch (ConfigException e)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (VerificationReport.IsReadFailure(e))
            {
                return await VerificationReport.FailedAsync(error, e);
            }

            await ReportOutput.WriteAsync(output, parse.GetValue(json), () => LedgerVerifyWriter.ToJson(result), w => LedgerVerifyWriter.WriteText(w, result));

            return (result.AfterRepair ?? result).Clean ? ExitCodes.Ok : ExitCodes.Found;
        });
        return verify;
    }
}
