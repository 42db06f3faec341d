using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>A materializer's lifecycle lines at information level (category <c>sync.NAME</c>):
/// where it starts reading, its first message, its progress at intervals and how it ended. Each
/// names the materializer, and the sink or topic it concerns, as template values of their own
/// (<c>{Materializer}</c>, <c>{Sink}</c>, <c>{Topic}</c>), never a row value.</summary>
public static partial class MaterializerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: reading source {Source} ({SourceType}) into sink {Sink}, target {Table}, {Mode} from {StartPosition}")]
    public static partial void Opened(ILogger logger, string materializer, string source, string sourceType, string sink, string table, string mode, string startPosition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: the suppression ledger cannot be read ({Reason}); no change is applied until it can, retried every {Delay}")]
    public static partial void LedgerUnavailable(ILogger logger, string materializer, string reason, string delay);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: the suppression ledger can be read again")]
    public static partial void LedgerBack(ILogger logger, string materializer);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: first message received from {Topic} at {Position}")]
    public static partial void FirstMessage(ILogger logger, string materializer, string topic, string position);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: progress: {Read} read, {Applied} upserted, {Deleted} deleted, {Stale} stale, {DeadLettered} dead-lettered in {Batches} batches")]
    public static partial void Progress(ILogger logger, string materializer, long read, long applied, long deleted, long stale, long deadLettered, long batches);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: stopped ({StopReason}) after {Read} read, {Applied} upserted, {Deleted} deleted, {DeadLettered} dead-lettered")]
    public static partial void Ended(ILogger logger, string materializer, string stopReason, long read, long applied, long deleted, long deadLettered);

    /// <summary>How a materializer's run ended, in the words of the stop line.</summary>
    public static string Describe(MaterializerEnd end) => end switch
    {
        MaterializerEnd.Finished => "finished: the source's end was reached",
        MaterializerEnd.Stopped => "signal: stopped on request",
        _ => "signal: interrupted before the source's end",
    };

    /// <summary>Logs a progress line for <paramref name="materializer"/> every <paramref name="interval"/>
    /// of <paramref name="time"/> until disposed; no timer for a zero or infinite interval.</summary>
    public static IDisposable LogProgress(ILogger logger, string materializer, Func<MaterializerCounters> counters, TimeProvider time, TimeSpan interval)
    {
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(time);
        if (interval <= TimeSpan.Zero || interval == Timeout.InfiniteTimeSpan)
        {
            return NoTimer.Instance;
        }

        return time.CreateTimer(
            _ =>
            {
                var c = counters();
                Progress(logger, materializer, c.Read, c.Applied, c.Deleted, c.SkippedStale, c.DeadLettered, c.Batches);
            },
            null,
            interval,
            interval);
    }

    private sealed class NoTimer : IDisposable
    {
        public static readonly NoTimer Instance = new();

        public void Dispose()
        {
        }
    }
}
