using Microsoft.Extensions.Logging;
using Sync.Cli.Output;
using Sync.Compliance.Ledger;
using Sync.Engine.Verify;

namespace Sync.Cli.Commands;

/// <summary><c>sync verify --config F [--materializer NAME]... [--json] [--sample N] [--show-keys] [--sample-key-file F] [--repair [--dry-run]]</c>:
/// proves that each materializer's sink holds what its changelog says, and classifies every key that drifted.</summary>
internal static class VerifyCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var materializers = new Option<string[]>("--materializer", "-m") { Description = "Verify only this materializer (repeatable). Default: every materializer." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON instead of text." };
        var sample = new Option<int>("--sample") { Description = "Drifted keys to show per class, as keyed hashes (see --sample-key-file; runs over the same drift show the same keys). Default 10; 0 shows none.", DefaultValueFactory = _ => 10 };
        var showKeys = new Option<bool>("--show-keys") { Description = "Show the sampled keys themselves (JSON) instead of their hashes. Keys may be personal data: off by default." };
        var repair = new Option<bool>("--repair") { Description = "Re-apply the log's latest change of each drifted key through the normal apply path (never-regress, the suppression ledger and dead letters included), delete rows the log holds nothing of, then verify again. Keys ahead of the log stay." };
        var dryRun = new Option<bool>("--dry-run") { Description = "With --repair: count what the repair would do, change nothing." };
        var sampleKey = new Option<FileInfo?>("--sample-key-file") { Description = "A file holding the secret (at least 16 characters) the sampled keys are hashed with (HMAC-SHA256), so that a report's hashes cannot be tested against guessed keys. Default: a secret generated at a materializer's first verification and kept in its sink." };
        var spill = new Option<DirectoryInfo?>("--spill-dir") { Description = "Where both sides are spilled while they are partitioned by key hash. Default: the system's temporary directory." };
        var command = new ConfiguredCommand("verify", "Compare each materializer's sink with its changelog (the compacted view of its topics, or a pass over its changelog file), decoded and mapped as the materializer does, and classify every key that differs: missing, extra, stale, ahead or different. Memory stays flat in the number of keys. Keys that change after the materializer's checkpoint, read at the start, are pending, not drift, so it can run next to sync run. Exit 0 when clean, 3 on drift (after --repair: drift left), 2 for bad input, 1 when a place cannot be read.")
        {
            materializers, json, sample, showKeys, sampleKey, repair, dryRun, spill,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(sample) < 0)
            {
                await error.WriteLineAsync($"error: --sample ({parse.GetValue(sample)}) must be 0 or more");
                return ExitCodes.Usage;
            }

            if (parse.GetValue(dryRun) && !parse.GetValue(repair))
            {
                await error.WriteLineAsync("error: --dry-run goes with --repair");
                return ExitCodes.Usage;
            }

            SampleKey? givenKey = null;
            if (parse.GetValue(sampleKey) is { } keyFile)
            {
                if (!keyFile.Exists)
                {
                    await error.WriteLineAsync($"error: --sample-key-file ({keyFile.FullName}) does not exist");
                    return ExitCodes.Usage;
                }

                var secret = (await File.ReadAllTextAsync(keyFile.FullName, cancellationToken)).TrimEnd('\r', '\n');
                if (secret.Length < 16)
                {
                    await error.WriteLineAsync($"error: --sample-key-file ({keyFile.FullName}) holds {secret.Length} characters; the secret needs at least 16");
                    return ExitCodes.Usage;
                }

                givenKey = SampleKey.Given(secret);
            }

            var components = SyncHost.Components();
            if (await SyncHost.LoadConfigAsync(parse.GetRequiredValue(command.Config), components, error) is not { } loaded)
            {
                return ExitCodes.Usage;
            }

            IReadOnlyList<KeyValuePair<string, MaterializerOptions>> selected;
            try
            {
                selected = new SyncRuntime(loaded, components, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).Select(parse.GetValue(materializers) ?? []);
            }
            catch (ConfigException e)
            {
                await SyncHost.PrintProblemsAsync(error, e);
                return ExitCodes.Usage;
            }

            var options = new VerifyOptions
            {
                SampleSize = parse.GetValue(sample),
                ShowKeys = parse.GetValue(showKeys),
                SampleKey = givenKey,
                SpillDirectory = parse.GetValue(spill)?.FullName ?? Path.GetTempPath(),
            };
            var results = new List<VerificationResult>();
            try
            {
                await using var suppression = new LedgerSuppression(loaded, components);
                using var loggerFactory = SyncHost.Logging(LogLevel.Warning);
                var verifier = new ChangelogVerifier(loaded, components, suppression.Filter) { Options = options };
                foreach (var (name, materializer) in selected)
                {
                    var result = parse.GetValue(repair)
                        ? await verifier.VerifyAndRepairAsync(name, materializer, parse.GetValue(dryRun), loggerFactory, cancellationToken)
                        : await verifier.VerifyAsync(name, materializer, cancellationToken);
                    if (!parse.GetValue(dryRun))
                    {
                        // A dry run changes nothing in the sink, its record of the last verification included.
                        await verifier.RecordAsync(name, materializer, result, cancellationToken);
                    }
                    results.Add(result);
                }
            }
            catch (Exception e) when (e is VerifyException or ConfigException)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (VerificationReport.IsReadFailure(e))
            {
                return await VerificationReport.FailedAsync(error, e);
            }

            await ReportOutput.WriteAsync(output, parse.GetValue(json), () => VerifyWriter.ToJson(results), w => VerifyWriter.WriteText(w, results));

            return results.All(r => (r.AfterRepair ?? r).Clean) ? ExitCodes.Ok : ExitCodes.Found;
        });
        return command;
    }
}
