using Sync.Compliance.Erasure;

namespace Sync.Cli.Commands;

/// <summary><c>sync erase --config F --subject KIND (--key K | --keys-from FILE)</c>: erases data subjects everywhere.</summary>
internal static class EraseCommand
{
    /// <summary>Exit code when anything is incomplete or residue remains.</summary>
    public const int Incomplete = 3;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = CommonOptions.Config();
        var subject = new Option<string>("--subject", "-s") { Description = "The kind of data subject, as named under `subjects:` in the config.", Required = true };
        var key = new Option<string[]>("--key", "-k") { Description = "The subject's key (repeat for several)." };
        var keysFrom = new Option<FileInfo?>("--keys-from") { Description = "A file with one key per line: erase them all in one pass (one compaction per topic)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan (topics, keys, sinks, rows) and change nothing." };
        var report = new Option<FileInfo?>("--report") { Description = "Also write the report as JSON to this file." };
        var purgeBacklog = new Option<bool>("--purge-backlog") { Description = "After compaction, truncate every topic that still holds raw residue and verify again. Costly: every subscription's cursor on those topics moves to the end (unconsumed messages are skipped), and the ledger being written is kept, so residue may remain." };
        var requestedBy = new Option<string?>("--requested-by") { Description = "Who asked for the erasure, for the ledger. Default: the current user." };
        var command = new Command("erase", "Erase data subjects everywhere: record them in the suppression ledger, publish tombstones, compact, delete from every sink, verify, and report. Exit 0 when complete, 3 when anything is incomplete or residue remains.")
        {
            config, subject, key, keysFrom, dryRun, purgeBacklog, report, requestedBy,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var keys = new List<string>(parse.GetValue(key) ?? []);
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
            if (await SyncHost.LoadConfigAsync(parse.GetRequiredValue(config), components, error) is not { } loaded)
            {
                return ExitCodes.Usage;
            }

            ErasureReport result;
            try
            {
                var service = new ErasureService(loaded, components);
                result = await service.EraseAsync(new ErasureCommand(parse.GetRequiredValue(subject), keys, parse.GetValue(requestedBy) ?? Environment.UserName, parse.GetValue(dryRun)) { PurgeBacklog = parse.GetValue(purgeBacklog) }, cancellationToken);
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

            return result.Verdict == ErasureVerdict.Incomplete ? Incomplete : ExitCodes.Ok;
        });
        return command;
    }
}
