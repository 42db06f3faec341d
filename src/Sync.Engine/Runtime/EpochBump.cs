namespace Sync.Engine.Runtime;

/// <summary>What <c>sync epoch bump</c> stored: the streams whose next change starts a new epoch.</summary>
public sealed record EpochBumpResult(string Materializer, IReadOnlyList<string> Streams, string By, string Reason, DateTimeOffset At);

/// <summary>A declared epoch change (<c>sync epoch bump</c>): the operator says the source of a
/// materializer went back in time with no new snapshot (a restore, a move to a new cluster); each of
/// its streams starts a new epoch at its next change, so that change and every later one order above
/// everything applied before. Stored in the sink with the checkpoint as a declaration entry per stream
/// (<see cref="SourceEpochs.BumpPrefix"/>) that no run writes, so a materializer running meanwhile
/// cannot overwrite it: it reads the declaration before its next batch (<c>MaterializerRunner.BumpCheckInterval</c>),
/// and a stopped one when it starts, and takes it in.</summary>
public static class EpochBump
{
    public static async Task<EpochBumpResult> DeclareAsync(SyncConfig config, SyncComponents components, string materializer, string by, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        var options = new SyncRuntime(config, components, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).Select([materializer])[0].Value;
        var sinkConfig = config.Sinks[options.Sink];
        await using var sink = await components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
        var stored = await sink.LoadCheckpointAsync(materializer, cancellationToken);
        // Streams only: neither the heal mark nor the epoch state is a stream whose epoch could be declared.
        var positions = SinkCheckpointGuard.PositionsOf(stored);
        if (positions.Count == 0)
        {
            throw new InvalidOperationException($"materializer {materializer} has no checkpoint in sink {options.Sink}: nothing was applied, so there is no epoch to leave; run it first");
        }

        // Declarations only: the positions and the epoch state stay the run's to write.
        var declarations = positions.Keys.ToDictionary(s => SourceEpochs.BumpPrefix + s, s => new StreamPosition(SourceEpochs.NextBumpId(stored, s, now), 0, 0), StringComparer.Ordinal);
        await sink.ApplyAsync(new SinkBatch(materializer, new TargetSpec(options.Table) { Options = options.Target }, [], declarations), cancellationToken);
        return new EpochBumpResult(materializer, [.. positions.Keys.Order(StringComparer.Ordinal)], by, reason, now);
    }
}
