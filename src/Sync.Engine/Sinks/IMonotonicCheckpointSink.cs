namespace Sync.Engine.Sinks;

/// <summary>A sink whose conditional checkpoint write (<see cref="SinkBatch.ExpectedCheckpoint"/>) also
/// never lowers a stored position: every entry named in the expected checkpoint is written as the
/// greater of the batch's position and the stored one, in the same step as the comparison
/// (PostgreSQL: the locked rows and an upsert that keeps the greater; Redis: one script; SQLite: in
/// the batch's transaction; Elasticsearch: a document write conditioned on the sequence number it was
/// read at). An expected entry the sink does not hold counts as <see cref="StreamPosition.Start"/>, so
/// a stream the materializer has not written yet is named with that. Entries not named (the heal
/// mark, source epoch state) are written as given.
/// <para>On a shared or key-shared subscription several processes write one checkpoint, each from
/// its own observation of the subscription's mark-delete position; with a sink that keeps the
/// greatest, an older observation written late cannot take the stored position back, so a stored
/// position below one a process wrote or read can only be a rollback of the sink, and the condition
/// can guard those subscriptions too (see <c>SinkCheckpointGuard</c>).</para></summary>
public interface IMonotonicCheckpointSink
{
    /// <summary>True when the sink keeps the rule above (a wrapper answers for the sink it wraps).</summary>
    bool NeverLowersCheckpoints { get; }

    /// <summary>Whether <paramref name="sink"/> keeps the rule, through any wrapper.</summary>
    static bool Of(ISink sink) => sink is IMonotonicCheckpointSink { NeverLowersCheckpoints: true };
}
