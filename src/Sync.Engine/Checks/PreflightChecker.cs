using Sync.Engine.Runtime;

namespace Sync.Engine.Checks;

/// <summary>Runs the online check of every configured source and sink, one after another, so that
/// the report reads in config order and one unreachable server does not hide the others.</summary>
public sealed class PreflightChecker(SyncConfig config, SyncComponents components)
{
    /// <summary>Longest time one component's check may take; a server that does not answer is
    /// reported, and the next component is checked. Default 30 s.</summary>
    public TimeSpan ComponentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public async Task<PreflightReport> CheckAsync(CancellationToken cancellationToken)
    {
        var results = new List<ComponentCheckResult>();
        foreach (var source in config.Sources.Values.OrderBy(s => s.Line))
        {
            var readers = config.Materializers.Where(m => m.Value.Source == source.Name).ToList();
            var check = components.Sources.GetValueOrDefault(source.Type) as IPreflightCheck;
            results.Add(new ComponentCheckResult("source", source.Name, source.Type, await RunAsync(check, new CheckScope(source, readers, config), cancellationToken)));
        }

        foreach (var sink in config.Sinks.Values.OrderBy(s => s.Line))
        {
            var writers = config.Materializers.Where(m => m.Value.Sink == sink.Name).ToList();
            var check = components.Sinks.GetValueOrDefault(sink.Type) as IPreflightCheck;
            results.Add(new ComponentCheckResult("sink", sink.Name, sink.Type, await RunAsync(check, new CheckScope(sink, writers, config), cancellationToken)));
        }

        return new PreflightReport(results);
    }

    private async Task<IReadOnlyList<CheckFinding>> RunAsync(IPreflightCheck? check, CheckScope scope, CancellationToken cancellationToken)
    {
        if (check is null)
        {
            return [CheckFinding.Warning("online check", $"type {scope.Component.Type} has no online check", "nothing to do; `sync validate` has checked its settings")];
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ComponentTimeout);
        try
        {
            return await check.CheckAsync(scope, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return [CheckFinding.Error("check", $"no answer within {Config.Durations.Format(ComponentTimeout)}", "check the addresses in its settings and that the server runs and can be reached from here")];
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            return [CheckFinding.Error("check", $"the check could not finish: {e.Message}", "fix what the message names and run `sync check` again")];
        }
    }
}
