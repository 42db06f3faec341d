namespace Sync.Engine.Runtime;

/// <summary>Where a backfill starts (<c>sync backfill --from</c>): at the earliest message of every
/// topic, or at given positions of some topics. A position is inclusive: the message at it is read
/// again, so that a backfill started at the first bad message repairs that message too. Topics not
/// named start at their earliest message.</summary>
public sealed class BackfillStart
{
    /// <summary>The option the values come from, named in every error.</summary>
    public const string Option = "--from";

    private const string EarliestWord = "earliest";

    private readonly StreamPosition? _single;
    private readonly string? _singleText;
    private readonly IReadOnlyList<(string Text, string Topic, StreamPosition Position)> _named;

    private BackfillStart(StreamPosition? single, string? singleText, IReadOnlyList<(string Text, string Topic, StreamPosition Position)> named)
    {
        _single = single;
        _singleText = singleText;
        _named = named;
    }

    /// <summary>Every topic from its earliest message (what a backfill does without <c>--from</c>).</summary>
    public static BackfillStart Earliest { get; } = new(null, null, []);

    /// <summary>True when no topic starts after its earliest message.</summary>
    public bool IsEarliest => _single is null && _named.All(n => n.Position == StreamPosition.Start);

    /// <summary>Reads the <c>--from</c> values: none or <c>earliest</c>; one bare
    /// <c>ledger:entry:batch</c>; or any number of <c>TOPIC=POSITION</c> (POSITION may be
    /// <c>earliest</c>). A <see cref="BackfillStartException"/> names the value that does not fit.</summary>
    public static BackfillStart Parse(IReadOnlyList<string>? values)
    {
        if (values is null || values.Count == 0)
        {
            return Earliest;
        }

        StreamPosition? single = null;
        string? singleText = null;
        var named = new List<(string Text, string Topic, StreamPosition Position)>();
        foreach (var value in values)
        {
            var text = value.Trim();
            if (text.Equals(EarliestWord, StringComparison.OrdinalIgnoreCase))
            {
                if (values.Count > 1)
                {
                    throw new BackfillStartException($"{Option} ({value}) cannot be combined with other {Option} values; topics not named start at the earliest message anyway");
                }

                return Earliest;
            }

            var equals = text.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                if (single is not null || values.Count > 1)
                {
                    throw new BackfillStartException($"{Option} ({value}) is a position without a topic; with several {Option} values each must be TOPIC=POSITION");
                }

                single = ParsePosition(text, value);
                singleText = value;
                continue;
            }

            var topic = text[..equals].Trim();
            if (topic.Length == 0)
            {
                throw new BackfillStartException($"{Option} ({value}) has no topic before '='; use TOPIC=POSITION");
            }

            if (named.Any(n => n.Topic == topic))
            {
                throw new BackfillStartException($"{Option} ({value}) names topic {topic} a second time");
            }

            var position = text[(equals + 1)..].Trim();
            named.Add((value, topic, position.Equals(EarliestWord, StringComparison.OrdinalIgnoreCase) ? StreamPosition.Start : ParsePosition(position, value)));
        }

        return new BackfillStart(single, singleText, named);
    }

    /// <summary>The first position to read per topic of <paramref name="materializer"/> (empty: all
    /// from the earliest), keyed by the topic as the source names its messages. A bare position
    /// needs a materializer with exactly one topic; a named topic must be one the materializer
    /// reads (or a partition of one).</summary>
    /// <param name="naming">How the materializer's source names its topics.</param>
    public IReadOnlyDictionary<string, StreamPosition> Resolve(string materializer, MaterializerOptions options, ITopicNaming naming)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(naming);
        var positions = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        var reads = options.Topics is { Count: > 0 } topics
            ? $"its topics: {string.Join(", ", topics)}"
            : $"its topicPattern: {options.TopicPattern}";
        if (_single is { } single)
        {
            if (options.Topics is not { Count: 1 } one)
            {
                throw new BackfillStartException($"{Option} ({_singleText}) is a position without a topic, but materializer {materializer} does not read exactly one topic ({reads}); use {Option} TOPIC=POSITION");
            }

            positions[one[0]] = single;
            return positions;
        }

        var filter = options.TopicFilter();
        foreach (var (text, topic, position) in _named)
        {
            var known = Match(topic, filter, naming)
                ?? throw new BackfillStartException($"{Option} ({text}) names topic {topic}, which materializer {materializer} does not read ({reads})");
            if (position != StreamPosition.Start)
            {
                positions[known] = position;
            }
        }

        return positions;
    }

    private static string? Match(string topic, Func<string, bool> reads, ITopicNaming naming)
    {
        foreach (var candidate in new[] { topic, naming.FullName(topic) }.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            // A partition of a topic the materializer reads is named on its own: positions are per partition.
            if (reads(candidate) || (naming.TopicOf(candidate) is var baseName && baseName != candidate && reads(baseName)))
            {
                return candidate;
            }
        }

        return null;
    }

    private static StreamPosition ParsePosition(string position, string value)
    {
        try
        {
            return StreamPosition.Parse(position);
        }
        catch (FormatException)
        {
            throw new BackfillStartException($"{Option} ({value}) must be earliest, a position ledger:entry:batch as `sync status` shows it (e.g. 0:17:-1), or TOPIC=POSITION");
        }
    }
}

/// <summary>A <c>--from</c> value that does not fit the materializer: a usage error (exit 2), not a failure of the run.</summary>
public sealed class BackfillStartException : Exception
{
    public BackfillStartException(string message)
        : base(message)
    {
    }

    public BackfillStartException()
    {
    }

    public BackfillStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
