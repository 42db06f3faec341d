using Sync.Compliance.Erasure.Steps;

namespace Sync.Compliance.Erasure;

/// <summary>What an erase is asked to do.</summary>
/// <param name="Subject">The subject kind from the config (e.g. <c>customer</c>).</param>
/// <param name="Keys">The subjects' keys, as text.</param>
/// <param name="RequestedBy">Who asked, for the ledger.</param>
/// <param name="DryRun">Plan and report only; change nothing.</param>
public sealed record ErasureCommand(string Subject, IReadOnlyList<string> Keys, string RequestedBy, bool DryRun)
{
    /// <summary>After compaction, truncate every topic that still holds raw residue, and verify again
    /// (<c>--purge-backlog</c>). It moves every subscription's cursor to the end of those topics.</summary>
    public bool PurgeBacklog { get; init; }
}

/// <summary>Erases data subjects everywhere a config carries them, as a pipeline of steps: records
/// the request in the suppression ledger (so every materializer drops the subjects' changes from
/// then on), plans (every message key that references them), publishes tombstones, compacts,
/// deletes from every sink and dead-letter table, verifies, purges the backlog when asked, and
/// reports. Each step is a class of <see cref="Steps"/> with a typed input and output.</summary>
public sealed class ErasureService
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly TimeProvider _time;
    private readonly Func<string> _newRequestId;

    public ErasureService(SyncConfig config, SyncComponents components, TimeProvider? time = null, Func<string>? newRequestId = null)
    {
        _config = config;
        _components = components;
        _time = time ?? TimeProvider.System;
        _newRequestId = newRequestId ?? (() => Guid.NewGuid().ToString("N"));
    }

    /// <summary>The requested keys that nothing names (no topic message, sink row or dead letter),
    /// in the order given: what <c>--require-found</c> refuses. Records and changes nothing.</summary>
    public async Task<IReadOnlyList<string>> FindMissingAsync(ErasureCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var scope = OpenScope(command with { DryRun = true });
        await scope.OpenSinksAsync(cancellationToken);
        var plan = await new PlanStep().RunAsync(new(scope), cancellationToken);
        var deadLetters = await new DeadLetterEraseStep().RunAsync(new(scope), cancellationToken);
        var found = VerifyStep.FoundBy(plan, deadLetters);
        return [.. scope.Keys.Where(k => !found.Contains(k))];
    }

    public async Task<ErasureReport> EraseAsync(ErasureCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var scope = OpenScope(command);
        var started = _time.GetUtcNow();
        var timings = new ErasureTimings();

        var requests = await new RecordRequestsStep().RunAsync(new(scope, started, _newRequestId), cancellationToken);
        await scope.OpenSinksAsync(cancellationToken);
        var plan = await new PlanStep().RunAsync(new(scope), cancellationToken);
        timings.End(ErasureStage.Plan);

        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), cancellationToken);
        timings.End(ErasureStage.Tombstones);

        var compactions = await new CompactionStep().RunAsync(new(scope, plan), cancellationToken);
        timings.End(ErasureStage.Compaction);

        var sinks = await new SinkEraseStep().RunAsync(new(scope, plan), cancellationToken);
        var deadLetters = await new DeadLetterEraseStep().RunAsync(new(scope), cancellationToken);
        timings.End(ErasureStage.Sinks);

        var verification = await new VerifyStep().RunAsync(new(scope, plan, tombstones, compactions, sinks, deadLetters), cancellationToken);
        timings.End(ErasureStage.Verify);

        verification = await new PurgeBacklogStep().RunAsync(new(scope, verification), cancellationToken);
        timings.End(ErasureStage.Purge);

        return await new ReportStep().RunAsync(new(scope, requests, plan, sinks, verification, started, _time, timings), cancellationToken);
    }

    private ErasureScope OpenScope(ErasureCommand command)
    {
        if (!_config.Subjects.TryGetValue(command.Subject, out var subject))
        {
            throw new ConfigException($"subject {command.Subject} is not configured (known: {string.Join(", ", _config.Subjects.Keys.Order(StringComparer.Ordinal))})");
        }

        if (_config.Erasure.Secret is not { } secret)
        {
            throw new ConfigException("erasure.secret is not set");
        }

        return new ErasureScope(_config, _components, command, subject, new SubjectHasher(secret));
    }
}
