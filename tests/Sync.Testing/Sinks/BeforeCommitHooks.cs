using Sync.Engine.DeadLetters;
using Sync.Engine.Sinks;

namespace Sync.Testing.Sinks;

/// <summary>Hooks for <see cref="SinkBatch.BeforeCommit"/> in tests that watch the rejections a sink hands over.</summary>
public static class BeforeCommitHooks
{
    /// <summary>A hook that calls <paramref name="observe"/> with the batch's rejected changes, when there
    /// are any, and gives the sink no dead-letter rows to write.</summary>
    public static Func<IReadOnlyList<RejectedChange>, CancellationToken, ValueTask<IReadOnlyList<DeadLetterRow>>> Observing(Action<IReadOnlyList<RejectedChange>> observe)
    {
        ArgumentNullException.ThrowIfNull(observe);
        return (rejected, _) =>
        {
            if (rejected.Count > 0)
            {
                observe(rejected);
            }

            return ValueTask.FromResult<IReadOnlyList<DeadLetterRow>>([]);
        };
    }
}
