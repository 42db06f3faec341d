using Sync.Engine.Formats;

namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="TombstoneStep"/>.</summary>
public sealed record TombstoneInput(ErasureScope Scope, ErasurePlan Plan);

/// <summary>Output of <see cref="TombstoneStep"/>: per topic, the positions of the tombstones written (none in a dry run).</summary>
public sealed record PublishedTombstones(IReadOnlyDictionary<TopicRef, IReadOnlyList<string>> Positions)
{
    public IReadOnlyList<string> On(TopicRef topic) => Positions.GetValueOrDefault(topic) ?? [];
}

/// <summary>Publishes a tombstone, with the exact key bytes, for every planned key on every topic
/// that carries a subject, and re-publishes the keys to scrub without their before image.</summary>
public sealed class TombstoneStep : IErasureStep<TombstoneInput, PublishedTombstones>
{
    public async Task<PublishedTombstones> RunAsync(TombstoneInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var positions = new Dictionary<TopicRef, IReadOnlyList<string>>();
        if (input.Scope.DryRun)
        {
            return new(positions);
        }

        foreach (var (topic, plan) in input.Plan.Topics)
        {
            var log = input.Scope.Logs.Get(plan.Source);
            var written = new List<string>();
            positions[topic] = written;
            foreach (var key in plan.Keys)
            {
                written.Add((await log.PublishTombstoneAsync(topic.Topic, key, cancellationToken)).ToString());
            }

            foreach (var scrub in plan.Scrubs.Values)
            {
                await ScrubAsync(log, scrub, cancellationToken);
            }
        }

        return new(positions);
    }

    /// <summary>Re-publishes a key's latest message without its before image: the same key bytes and
    /// encoding, properties (plus <see cref="BeforeImageScrubber.ScrubbedProperty"/>, the position it
    /// replaces) and event time. A materializer reads it as the same change: with a source LSN its
    /// version is the same, so a sink rewrites identical values; without one it is a newer position of
    /// the same stream carrying identical values. Either way the key's state does not change, and
    /// compaction then drops the message whose before image named the subject.</summary>
    private static async Task ScrubAsync(ITopicLog log, Scrub scrub, CancellationToken cancellationToken)
    {
        var message = scrub.Message;
        var value = BeforeImageScrubber.Scrub(scrub.Format, message);
        var properties = new Dictionary<string, string>(message.Properties, StringComparer.Ordinal)
        {
            [BeforeImageScrubber.ScrubbedProperty] = message.Position.ToString(),
        };
        await log.PublishAsync(message.Topic, message.Key, value, properties, message.EventTime, cancellationToken);
    }
}
