using Sync.Engine.DeadLetters;
using Sync.Engine.Ledger;

namespace Sync.Sources.Pulsar;

/// <summary>Opens <see cref="PulsarSourceReader"/>s and <see cref="PulsarTopicLog"/>s.</summary>
public sealed class PulsarSourceFactory(TimeProvider? time = null) : ISourceFactory, IPreflightCheck
{
    public ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken) =>
        new PulsarSourceCheck().CheckAsync(scope, cancellationToken);

    public string Type => "pulsar";

    public Type OptionsType => typeof(PulsarSourceOptions);

    public ITopicNaming Naming => PulsarTopicNaming.Instance;

    /// <summary>A <see cref="PulsarBackfillReader"/> for a backfill, else a <see cref="PulsarSourceReader"/>.</summary>
    public ISourceReader Open(ComponentConfig source, SourceReadRequest request)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(request);
        var options = (PulsarSourceOptions)source.Options;
        return request.FromBeginning
            ? new PulsarBackfillReader(source.Name, options, request)
            : new PulsarSourceReader(source.Name, options, request, time);
    }

    public ITopicLog OpenLog(ComponentConfig source) => new PulsarTopicLog(source.Name, (PulsarSourceOptions)source.Options);

    /// <summary>A subscription waits for new messages; a backfill ends when it has caught up.</summary>
    public bool HasNoEnd(ComponentConfig source, bool fromBeginning) => !fromBeginning;

    public IDeadLetterTarget OpenDeadLetterTopic(ComponentConfig source, string materializer)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new PulsarDeadLetterTopic(source.Name, (PulsarSourceOptions)source.Options, materializer);
    }

    public string DescribeDeadLetterTopics(string sourceName) => PulsarDeadLetterTopic.Describe(sourceName);

    public IDeadLetterReader OpenDeadLetterReader(ComponentConfig source, SourceReadRequest request, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new PulsarDeadLetterReader(source.Name, (PulsarSourceOptions)source.Options, request, dryRun);
    }

    public ISuppressionLedger OpenLedger(ComponentConfig source, string topic)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new PulsarTopicLedger(source.Name, (PulsarSourceOptions)source.Options, topic);
    }

    public IChangelogPublisher OpenPublisher(ComponentConfig source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new PulsarChangelogPublisher(source.Name, (PulsarSourceOptions)source.Options);
    }
}
