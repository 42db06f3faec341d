namespace Sync.Engine.DeadLetters;

/// <summary>A reader of dead letters kept for one materializer alone (a file, a sink's table): no
/// source cursor, and no letters of other materializers to pass over.</summary>
public abstract class OwnDeadLetterReader : IDeadLetterReader
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCursor = new Dictionary<string, StreamPosition>();

    private readonly List<DeadLetterEntry> _seen = [];

    protected OwnDeadLetterReader(string materializer, bool dryRun)
    {
        Materializer = materializer;
        DryRun = dryRun;
    }

    /// <summary>The letters read so far, in order.</summary>
    public IReadOnlyList<DeadLetterEntry> Seen => _seen;

    /// <summary>Always 0: letters of another materializer are refused or never read.</summary>
    public long OtherMaterializers => 0;

    public IReadOnlyDictionary<string, StreamPosition> Cursor => NoCursor;

    protected string Materializer { get; }

    /// <summary>True when the replay changes nothing: letters are read, none is consumed.</summary>
    protected bool DryRun { get; }

    public abstract ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken);

    public abstract ValueTask AcknowledgeAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    protected void Saw(DeadLetterEntry letter) => _seen.Add(letter);
}
