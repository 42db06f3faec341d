namespace Sync.Engine.Runtime;

/// <summary>How one materializer reads its source: which streams are its own (its topics, by name
/// or by pattern, and every partition of them), and what a message becomes on its way to the sink
/// (its format's decoder, then its mapping). Run, dead-letter replay, erasure and audit all read
/// through it, so that they agree on what the materializer reads.</summary>
public sealed class MaterializerReading
{
    private readonly Func<string, bool> _filter;
    private readonly ITopicNaming _naming;
    private readonly IReadOnlyList<string> _cursorStreams;
    private readonly Lazy<IMessageDecoder> _decoder;
    private readonly Lazy<ChangeMapper> _mapper;

    private MaterializerReading(string name, MaterializerOptions options, ISourceFactory source, Func<string, DecoderOptions, IMessageDecoder> createDecoder)
    {
        Name = name;
        Options = options;
        _filter = options.TopicFilter();
        _naming = source.Naming;
        _cursorStreams = source.CursorStreams(options.Source);
        _decoder = new(() => createDecoder(options.Format, options.DecoderOptions()));
        _mapper = new(() => new ChangeMapper(options));
    }

    public string Name { get; }

    public MaterializerOptions Options { get; }

    /// <summary>A decoder of the materializer's format, made on first use and kept: it caches
    /// schemas, and is not made for two threads.</summary>
    public IMessageDecoder Decoder => _decoder.Value;

    public ChangeMapper Mapper => _mapper.Value;

    /// <summary>How the materializer's source names its streams.</summary>
    public ITopicNaming Naming => _naming;

    public static MaterializerReading Of(SyncConfig config, SyncComponents components, string name, MaterializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        ArgumentNullException.ThrowIfNull(options);
        return new(name, options, components.Sources[config.Sources[options.Source].Type], components.CreateDecoder);
    }

    /// <summary>True for the materializer's topics, by name or, for a partition, by its topic's name.</summary>
    public bool Reads(string stream) => _filter(stream) || _filter(_naming.TopicOf(stream));

    /// <summary>Whether a stored checkpoint holds a position of something this materializer reads now
    /// (one of its topics, a partition of one, or its source's own cursor): only such a position
    /// makes a resumed run skip changes. Positions of topics it no longer reads skip nothing.</summary>
    public bool ReadsAny(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return checkpoint.Keys.Any(ReadsEntry);
    }

    /// <summary>Whether a checkpoint entry is a position of something this materializer reads now:
    /// one of its topics, a partition of one, or its source's own cursor.</summary>
    public bool ReadsEntry(string entry) => _cursorStreams.Contains(entry) || Reads(entry);

    /// <summary>The message as the materializer would hand it to its sink: decoded, then mapped.</summary>
    /// <exception cref="DecodeException">The message cannot be decoded.</exception>
    /// <exception cref="NonRowMessageException">The message is no row change.</exception>
    /// <exception cref="MapException">The change cannot be mapped.</exception>
    public ChangeEvent Decode(SourceMessage message) => Mapper.Map(Decoder.Decode(message));

    /// <summary>A request to read the materializer's topics from <paramref name="checkpoint"/>, or
    /// from the first message.</summary>
    public SourceReadRequest ReadRequest(IReadOnlyDictionary<string, StreamPosition> checkpoint, bool fromBeginning) =>
        new(Name, Options.TopicFilter(), checkpoint, fromBeginning) { Topics = Options.Topics, TopicPattern = Options.TopicPattern };
}
