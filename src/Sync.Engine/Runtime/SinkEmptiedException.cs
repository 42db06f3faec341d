namespace Sync.Engine.Runtime;

/// <summary>A sink holds no checkpoint (and so none of the data) of a materializer whose subscription
/// has moved on, and the materializer's <c>onEmptySink</c> is <c>stop</c>: going on would leave the
/// target without every change before the subscription's position. Fatal for the materializer.</summary>
public sealed class SinkEmptiedException : MaterializerStoppedException
{
    public SinkEmptiedException(string materializer, string sink, string why)
        : base(materializer, $"materializer {materializer}: sink {sink} holds no checkpoint of it any more (emptied, restored from before its first write, or restarted without persistence), while {why}; "
            + $"going on would leave its target without every change before that, so it stops (onEmptySink: stop). "
            + $"Rebuild it with `sync backfill --materializer {materializer}`, or set materializers.{materializer}.onEmptySink: rebuild to replay from the earliest message while running")
    {
    }
}
