using Sync.Compliance.Erasure;

namespace Sync.Cli.Commands;

/// <summary><c>sync erase --config F --subject KIND (--key K | --keys-from FILE)</c>: erases data subjects everywhere.</summary>
internal static class EraseCommand
{
    /// <summary>Exit code when <c>--require-found</c> refused keys that nothing names; nothing was recorded or erased.</summary>
    public const int NotFound = 4;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var subject = new Option<string>("--subject", "-s") { Description = "The kind of data subject, as named under `subjects:` in the config.", Required = true };
        var key = new Option<string[]>("--key", "-k") { Description = "The subject's key (repeat for several)." };
        var keysFrom = new Option<FileInfo?>("--keys-from") { Description = "A file with one key per line: erase them all in one pass (one compaction per topic)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan (topics, keys, sinks, rows) and change nothing." };
        var report = new Option<FileInfo?>("--report") { Description = "Also write the report as JSON to this file." };
        var purgeBacklog = new Option<bool>("--purge-backlog") { Description = "After compaction, truncate every topic that still holds raw residue and verify again. Costly: every subscription's cursor on those topics moves to the end (unconsumed messages are skipped), and the ledger being written is kept, so residue may remain." };
        var requestedBy = new Option<string?>("--requested-by") { Description = "Who asked for the erasure, for the ledger. Default: the current user." };
        var requireFound = new Option<bool>("--require-found") { Description = "Refuse keys that nothing names (no topic message, sink row or dead letter): name them, record and erase nothing, and exit 4. Without it such a key is recorded as not-found and stays suppressed." };
        var command = new ConfiguredCommand("erase", "Erase data subjects everywhere: record them in the suppression ledger, publish tombstones, compact, delete from every sink, verify, and report. Exit 0 when complete, already erased or not found anywhere (still suppressed), 3 when anything is incomplete or residue remains, 4 when --require-found refused a key.")
        {
            subject, key, keysFrom, dryRun, purgeBacklog, report, requestedBy, requireFound,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var keys = new List<string>(parse.GetValue(key) ?? []);
            if (keys.Any(string.IsNullOrWhiteSpace))
            {
                await error.WriteLineAsync("error: --key is empty or blank; give the subject's key");
                return ExitCodes.Usage;
            }

            if (parse.GetValue(keysFrom) is { } file)
            {
                if (!file.Exists)
                {
                    await error.WriteLineAsync($"error: --keys-from {file.FullName} does not exist");
                    return ExitCodes.Usage;
                }

                keys.AddRange((await File.ReadAllLinesAsync(file.FullName, cancellationToken)).Select(l => l.Trim()).Where(l => l.Length > 0));
            }

            if (keys.Count == 0)
            {
                await error.WriteLineAsync("error: give the subject's key with --key, or a file of keys with --keys-from");
                return ExitCodes.Usage;
            }

            var components = SyncHost.Components();
            if (await SyncHost.LoadConfigAsync(parse.GetRequiredValue(command.Config), components, error) is not { } loaded)
            {
                return ExitCodes.Usage;
            }

            ErasureReport result;
            try
            {
                var service = new ErasureService(loaded, components);
                var erasure = new ErasureCommand(parse.GetRequiredValue(subject), keys, parse.GetValue(requestedBy) ?? Environment.UserName, parse.GetValue(dryRun)) { PurgeBacklog = parse.GetValue(purgeBacklog) };
                if (parse.GetValue(requireFound) && !erasure.DryRun && await service.FindMissingAsync(erasure, cancellationToken) is { Count: > 0 } missing)
                {
                    foreach (var absent in missing)
                    {
                        await error.WriteLineAsync($"error: --require-found: key {absent} of subject {erasure.Subject} was found nowhere (no topic message, sink row or dead letter names it)");
                    }

                    await error.WriteLineAsync("nothing was recorded or erased; check the keys, or run without --require-found to record them as not-found (suppressed for data that may arrive later)");
                    return NotFound;
                }

                result = await service.EraseAsync(erasure, cancellationToken);
            }
            catch (ConfigException e)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
            {
                await error.WriteLineAsync($"error: the erasure failed: {e.Message}; run it again (it is idempotent)");
                return ExitCodes.Failure;
            }

            ErasureReportWriter.WriteTables(output, result);
            if (parse.GetValue(report) is { } reportFile)
            {
                await File.WriteAllTextAsync(reportFile.FullName, ErasureReportWriter.ToJson(result), cancellationToken);
            }

            return result.Verdict == ErasureVerdict.Incomplete ? ExitCodes.Found : ExitCodes.Ok;
        });
        return command;
    }
}
