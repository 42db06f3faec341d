using System.Text.Json;
using Sync.Compliance.Ledger;
using Sync.Engine.Ledger;

namespace Sync.Cli.Commands;

/// <summary><c>sync ledger list|show|revoke|export|copy</c>: the suppression ledger's erasure
/// requests, seen, revoked, exported for an auditor and copied to another ledger. Keys never
/// appear: a request holds only its key's keyed hash.</summary>
internal static class LedgerCommand
{
    /// <summary>The first line of an export names its format; a reader checks it before the rest.</summary>
    public const string ExportFormat = "sync-ledger-export";

    public const int ExportVersion = 1;

    private const int ShortHash = 16;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static Command Create(TextWriter output, TextWriter error)
    {
        var command = new Command("ledger", "See and manage the suppression ledger: every erasure request (subject, keyed hash of the key, when, by whom, status, revocation), never a key.");
        command.Subcommands.Add(List(output, error));
        command.Subcommands.Add(Show(output, error));
        command.Subcommands.Add(Revoke(output, error));
        command.Subcommands.Add(Export(output, error));
        command.Subcommands.Add(Copy(output, error));
        command.Subcommands.Add(LedgerVerifyCommand.Create(output, error));
        return command;
    }

    private static Command List(TextWriter output, TextWriter error)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array, with each key hash in full." };
        var command = new ConfiguredCommand("list", "List every erasure request, oldest first, revoked ones included: request id, subject, key hash (shortened; in full with --json), requested at, requested by, status, revocation. Changes nothing.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
            await WithLedgerAsync(parse.GetRequiredValue(command.Config), error, async ledger =>
            {
                var asJson = parse.GetValue(json);
                await output.WriteLineAsync(asJson ? "[" : ListHeader);

                // One element is held back, to know whether a comma follows it.
                string? held = null;
                await foreach (var request in ledger.ListAsync(cancellationToken))
                {
                    if (!asJson)
                    {
                        await output.WriteLineAsync(ListRow(request));
                        continue;
                    }

                    if (held is not null)
                    {
                        await output.WriteLineAsync($"  {held},");
                    }

                    held = ToJson(request);
                }

                if (asJson)
                {
                    if (held is not null)
                    {
                        await output.WriteLineAsync($"  {held}");
                    }

                    await output.WriteLineAsync("]");
                }

                return ExitCodes.Ok;
            }));
        return command;
    }

    private static Command Show(TextWriter output, TextWriter error)
    {
        var request = RequestArgument();
        var json = new Option<bool>("--json") { Description = "Print the request as JSON." };
        var command = new ConfiguredCommand("show", "Show one erasure request in full, its revocation included. Exit 1 when the ledger has no such request.")
        {
            request, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
            await WithLedgerAsync(parse.GetRequiredValue(command.Config), error, async ledger =>
            {
                var id = parse.GetRequiredValue(request);
                if (await ledger.GetAsync(id, cancellationToken) is not { } found)
                {
                    return await NoSuchRequestAsync(error, id, ledger);
                }

                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(ToJson(found));
                }
                else
                {
                    await WriteDetailsAsync(output, found);
                }

                return ExitCodes.Ok;
            }));
        return command;
    }

    private static Command Revoke(TextWriter output, TextWriter error)
    {
        var request = RequestArgument();
        var reason = new Option<string>("--reason") { Description = "Why the request is revoked (a mistyped key, a request withdrawn); kept in the ledger with the revocation.", Required = true };
        var by = new Option<string?>("--by") { Description = "Who revokes it, for the ledger. Default: the current user." };
        var command = new ConfiguredCommand("revoke", "Revoke a mistaken erasure request: its subject is no longer suppressed, so the subject's changes apply again from now on (what was erased stays erased). The request and its revocation (when, by whom, why) stay in the ledger. Exit 1 when there is no such request or it was revoked already.")
        {
            request, reason, by,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var why = parse.GetRequiredValue(reason);
            if (string.IsNullOrWhiteSpace(why))
            {
                await error.WriteLineAsync("error: --reason is blank; say why the request is revoked");
                return ExitCodes.Usage;
            }

            return await WithLedgerAsync(parse.GetRequiredValue(command.Config), error, async ledger =>
            {
                var id = parse.GetRequiredValue(request);
                if (await ledger.GetAsync(id, cancellationToken) is not { } found)
                {
                    return await NoSuchRequestAsync(error, id, ledger);
                }

                if (found.Revocation is { } earlier)
                {
                    await error.WriteLineAsync($"error: erasure request {id} was revoked already, at {LedgerTime.Format(earlier.At)} by {earlier.By} ({earlier.Reason}); nothing changed");
                    return ExitCodes.Failure;
                }

                // At the ledger's precision, so that the revocation read back compares equal.
                var now = LedgerTime.Parse(LedgerTime.Format(DateTimeOffset.UtcNow));
                var revocation = new Revocation(now, parse.GetValue(by) ?? Environment.UserName, why.Trim());
                var revoked = await ledger.RevokeAsync(id, revocation, cancellationToken);
                if (revoked?.Revocation is not { } recorded || recorded != revocation)
                {
                    // Another process revoked it between the read and the revocation.
                    await error.WriteLineAsync(revoked?.Revocation is { } other
                        ? $"error: erasure request {id} was revoked already, at {LedgerTime.Format(other.At)} by {other.By} ({other.Reason}); nothing changed"
                        : $"error: erasure request {id} could not be revoked");
                    return ExitCodes.Failure;
                }

                await WriteRevokedAsync(output, revoked);
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static Command Export(TextWriter output, TextWriter error)
    {
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the export to this file. Default: standard output." };
        var command = new ConfiguredCommand("export", "Export every erasure request for an auditor, as JSON Lines: a header line (format, version, exported at, ledger location), one line per request with every field and its revocation, and a last line with the count. Never a key.")
        {
            file,
        };
        command.SetAction(async (parse, cancellationToken) =>
            await WithLedgerAsync(parse.GetRequiredValue(command.Config), error, async ledger =>
            {
                var target = parse.GetValue(file);
                await using var writer = target is null ? null : new StreamWriter(target.FullName, append: false);
                var count = await ExportAsync(ledger, writer ?? output, DateTimeOffset.UtcNow, cancellationToken);
                if (target is not null)
                {
                    await error.WriteLineAsync($"exported {Count(count)} from {ledger.Location} to {target.FullName}");
                }

                return ExitCodes.Ok;
            }));
        return command;
    }

    private static Command Copy(TextWriter output, TextWriter error)
    {
        var to = new Option<FileInfo>("--to") { Description = "The target: a config file (.yaml, .yml) whose erasure.ledger is the ledger to copy to (a file, postgres or topic ledger), or a ledger file.", Required = true };
        var command = new ConfiguredCommand("copy", "Copy every erasure request of this config's ledger to another ledger, request ids, statuses and revocations kept (to move from a file ledger to a shared one). Requests the target holds already are left as they are, so a second copy changes nothing; then every request is looked up in the target. Exit 1 when one is missing there.")
        {
            to,
        };
        command.SetAction(async (parse, cancellationToken) =>
            await WithLedgerAsync(parse.GetRequiredValue(command.Config), error, async source =>
            {
                var targetFile = parse.GetRequiredValue(to);
                await using var target = await OpenTargetAsync(targetFile);
                if (target.Location == source.Location)
                {
                    await error.WriteLineAsync($"error: --to names this config's own ledger ({source.Location}); nothing to copy");
                    return ExitCodes.Usage;
                }

                long copied = 0, present = 0;
                await foreach (var request in source.ListAsync(cancellationToken))
                {
                    if (await target.GetAsync(request.RequestId, cancellationToken) is not null)
                    {
                        present++;
                        continue;
                    }

                    await CopyOneAsync(request, target, cancellationToken);
                    copied++;
                }

                var (checkedCount, missing) = await CheckCopyAsync(source, target, cancellationToken);
                await output.WriteLineAsync($"copied {Count(copied)} from {source.Location} to {target.Location}; {N(present)} already there");
                foreach (var problem in missing)
                {
                    await error.WriteLineAsync($"error: {problem}");
                }

                if (missing.Count > 0)
                {
                    return ExitCodes.Failure;
                }

                await output.WriteLineAsync($"checked: all {Count(checkedCount)} of the source are in the target, with their status and revocation");
                return ExitCodes.Ok;
            }));
        return command;
    }

    private static Argument<string> RequestArgument() => new("REQUEST") { Description = "The request id, as `sync ledger list` and the erasure report show it." };

    private static async Task<int> WithLedgerAsync(FileInfo configFile, TextWriter error, Func<ISuppressionLedger, Task<int>> work)
    {
        var components = SyncHost.Components();
        return await SyncHost.RunWithConfigAsync(configFile, components, error, async config =>
        {
            await using var ledger = SuppressionLedgers.Open(config, components);
            return await work(ledger);
        });
    }

    private static async Task<ISuppressionLedger> OpenTargetAsync(FileInfo target)
    {
        if (target.Extension is not (".yaml" or ".yml"))
        {
            return SqliteSuppressionLedger.Open(target.FullName);
        }

        var components = SyncHost.Components();
        var config = await Task.Run(() => ConfigLoader.Load(target.FullName, components.Types));
        return SuppressionLedgers.Open(config, components);
    }

    /// <summary>Records the request as it is in the source: recorded, then its status and completion
    /// time, then its revocation. A key whose active request in the target has another id keeps that
    /// one; the check after the copy names it.</summary>
    private static async Task CopyOneAsync(ErasureRequest request, ISuppressionLedger target, CancellationToken cancellationToken)
    {
        var recorded = await target.RecordAsync([request with { CompletedAt = null, Revocation = null }], cancellationToken);
        if (recorded[0].RequestId != request.RequestId)
        {
            return;
        }

        if (request.CompletedAt is { } completed)
        {
            await target.SetStatusAsync([(request.RequestId, request.Status)], completed, cancellationToken);
        }

        if (request.Revocation is { } revocation)
        {
            await target.RevokeAsync(request.RequestId, revocation, cancellationToken);
        }
    }

    /// <summary>Every request of the source, looked up in the target: present, with the same status
    /// and revocation. Returns how many were checked and what is missing or differs.</summary>
    private static async Task<(long Checked, List<string> Problems)> CheckCopyAsync(ISuppressionLedger source, ISuppressionLedger target, CancellationToken cancellationToken)
    {
        long count = 0;
        var problems = new List<string>();
        await foreach (var request in source.ListAsync(cancellationToken))
        {
            count++;
            var copy = await target.GetAsync(request.RequestId, cancellationToken);
            if (copy is null)
            {
                var active = await target.FindAsync(request.Subject, request.KeyHash, cancellationToken);
                problems.Add(active is null
                    ? $"request {request.RequestId} is not in the target"
                    : $"request {request.RequestId} is not in the target: key {request.KeyHash} of subject {request.Subject} has the active request {active.RequestId} there already");
            }
            else if (copy.Status != request.Status || (copy.Revocation is null) != (request.Revocation is null))
            {
                problems.Add($"request {request.RequestId} differs in the target: {Describe(copy)} there, {Describe(request)} here");
            }
        }

        return (count, problems);
    }

    /// <summary>Writes the export's lines; returns the number of requests.</summary>
    public static async Task<long> ExportAsync(ISuppressionLedger ledger, TextWriter writer, DateTimeOffset exportedAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(writer);
        await writer.WriteLineAsync(JsonSerializer.Serialize(new Dictionary<string, object> { ["format"] = ExportFormat, ["version"] = ExportVersion, ["exportedAt"] = LedgerTime.Format(exportedAt), ["ledger"] = ledger.Location }, Json));
        long count = 0;
        await foreach (var request in ledger.ListAsync(cancellationToken))
        {
            await writer.WriteLineAsync(ToJson(request));
            count++;
        }

        await writer.WriteLineAsync(JsonSerializer.Serialize(new Dictionary<string, object> { ["count"] = count }, Json));
        return count;
    }

    private static string ToJson(ErasureRequest request) => JsonSerializer.Serialize(
        new Dictionary<string, object?>
        {
            ["requestId"] = request.RequestId,
            ["subject"] = request.Subject,
            ["keyHash"] = request.KeyHash,
            ["requestedAt"] = LedgerTime.Format(request.RequestedAt),
            ["requestedBy"] = request.RequestedBy,
            ["status"] = RequestStatusText.Of(request.Status),
            ["completedAt"] = request.CompletedAt is { } completed ? LedgerTime.Format(completed) : null,
            ["revocation"] = request.Revocation is { } r
                ? new Dictionary<string, string> { ["at"] = LedgerTime.Format(r.At), ["by"] = r.By, ["reason"] = r.Reason }
                : null,
        },
        Json);

    private static readonly string ListHeader = $"{"request",-32}  {"subject",-12}  {"key hash",-(ShortHash + 1)}  {"requested at",-24}  {"requested by",-20}  {"status",-11}  revoked";

    /// <summary>One line per request, in fixed columns, so that the list streams however long the ledger.</summary>
    private static string ListRow(ErasureRequest r) =>
        $"{r.RequestId,-32}  {r.Subject,-12}  {Shorten(r.KeyHash),-(ShortHash + 1)}  {LedgerTime.Format(r.RequestedAt),-24}  {r.RequestedBy,-20}  {RequestStatusText.Of(r.Status),-11}  {(r.Revocation is { } v ? $"{LedgerTime.Format(v.At)} by {v.By}: {v.Reason}" : "-")}";

    private static string Shorten(string hash) => hash.Length <= ShortHash ? hash : hash[..ShortHash] + "…";

    private static async Task WriteDetailsAsync(TextWriter output, ErasureRequest r)
    {
        await output.WriteLineAsync($"request       {r.RequestId}");
        await output.WriteLineAsync($"subject       {r.Subject}");
        await output.WriteLineAsync($"key hash      {r.KeyHash}");
        await output.WriteLineAsync($"requested at  {LedgerTime.Format(r.RequestedAt)}");
        await output.WriteLineAsync($"requested by  {r.RequestedBy}");
        await output.WriteLineAsync($"status        {RequestStatusText.Of(r.Status)}");
        await output.WriteLineAsync($"completed at  {(r.CompletedAt is { } completed ? LedgerTime.Format(completed) : "-")}");
        if (r.Revocation is { } v)
        {
            await output.WriteLineAsync($"revoked at    {LedgerTime.Format(v.At)}");
            await output.WriteLineAsync($"revoked by    {v.By}");
            await output.WriteLineAsync($"reason        {v.Reason}");
            await output.WriteLineAsync("suppresses    nothing since its revocation");
        }
        else
        {
            await output.WriteLineAsync("revoked       no");
            await output.WriteLineAsync("suppresses    the subject's changes, on every run and replay");
        }
    }

    private static async Task WriteRevokedAsync(TextWriter output, ErasureRequest r)
    {
        var v = r.Revocation!;
        await output.WriteLineAsync($"revoked erasure request {r.RequestId} (subject {r.Subject}, key hash {r.KeyHash}, {RequestStatusText.Of(r.Status)}, requested at {LedgerTime.Format(r.RequestedAt)} by {r.RequestedBy})");
        await output.WriteLineAsync($"  at {LedgerTime.Format(v.At)} by {v.By}: {v.Reason}");
        await output.WriteLineAsync("  the subject's changes apply again from now on (running processes at their next ledger refresh); what was erased stays erased");
        if (r.Status is not RequestStatus.NotFound)
        {
            // The sinks' erasure markers are keyed by the row key, which the ledger never holds.
            await output.WriteLineAsync("  rows the erasure deleted keep their erasure markers in the sinks: a later change of one of those same rows stays stale (docs/gdpr.md, \"Revoking a request\")");
        }

        await output.WriteLineAsync($"  the request and its revocation stay in the ledger: sync ledger show {r.RequestId}");
    }

    private static async Task<int> NoSuchRequestAsync(TextWriter error, string id, ISuppressionLedger ledger)
    {
        await error.WriteLineAsync($"error: the ledger ({ledger.Location}) has no erasure request {id}; sync ledger list shows them");
        return ExitCodes.Failure;
    }

    private static string Describe(ErasureRequest r) => RequestStatusText.Of(r.Status) + (r.Revocation is null ? string.Empty : ", revoked");

    private static string Count(long n) => n == 1 ? "1 request" : $"{N(n)} requests";

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
