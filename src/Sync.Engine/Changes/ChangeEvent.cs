namespace Sync.Engine.Changes;

/// <summary>What happened to a row. Debezium's op codes: c, u, d, r, t; a tombstone is a message with a key and no value.</summary>
public enum ChangeOp
{
    Create,
    Update,
    Delete,
    /// <summary>A snapshot read (op=r): an upsert of the row as it was when the snapshot ran.</summary>
    Read,
    /// <summary>A table truncate (op=t): it has no key and removes every row of the table.</summary>
    Truncate,
    /// <summary>A message with a key and an empty or null value: the key is deleted.</summary>
    Tombstone,
}

/// <summary>Where the source database says the change came from (Debezium's <c>source</c> block).</summary>
public sealed record SourceInfo
{
    public string? Connector { get; init; }

    /// <summary>The logical server name (topic prefix).</summary>
    public string? Name { get; init; }

    public string? Db { get; init; }

    public string? Schema { get; init; }

    public string? Table { get; init; }

    /// <summary>The change's 64-bit source order, non-negative: PostgreSQL's <c>lsn</c>, or the
    /// coordinates of the other relational connectors packed into 64 bits (MySQL/MariaDB
    /// <c>file</c>/<c>pos</c>/<c>row</c>, SQL Server and Db2 <c>commit_lsn</c>, Oracle
    /// <c>commit_scn</c>/<c>scn</c>; Formats.SourceOrder). Orders changes of one source database
    /// only; null when the block has none or they do not fit.</summary>
    public long? Lsn { get; init; }

    public string? TxId { get; init; }

    public long? TsMs { get; init; }

    /// <summary>Debezium's snapshot marker (<c>true</c>, <c>first</c>, <c>last</c>, <c>incremental</c>, <c>false</c>), when present.</summary>
    public string? Snapshot { get; init; }
}

/// <summary>The message a change came from: topic, position in the stream, and the broker's metadata.</summary>
public sealed record Origin
{
    // Backing fields of their own so that a SourceMessage, which holds its origin instead of a copy
    // of each part, can fill one in while it is being initialised (SourceMessage's init accessors).
    private string _topic = string.Empty;
    private StreamPosition _position;
    private MessageKey _key;
    private DateTimeOffset? _publishTime;
    private DateTimeOffset? _eventTime;
    private IReadOnlyDictionary<string, string> _properties = EmptyProperties;

    public required string Topic { get => _topic; init => _topic = value; }

    public required StreamPosition Position { get => _position; init => _position = value; }

    /// <summary>The message key exactly as it travelled (text and whether it is base64 of the key bytes).</summary>
    public MessageKey Key { get => _key; init => _key = value; }

    public DateTimeOffset? PublishTime { get => _publishTime; init => _publishTime = value; }

    public DateTimeOffset? EventTime { get => _eventTime; init => _eventTime = value; }

    public IReadOnlyDictionary<string, string> Properties { get => _properties; init => _properties = value; }

    public static readonly IReadOnlyDictionary<string, string> EmptyProperties = new Dictionary<string, string>();

    /// <summary>An origin whose parts are filled in afterwards (by a SourceMessage's initialiser), before anyone else sees it.</summary>
    internal static Origin Unfilled() => new() { Topic = string.Empty, Position = default };

    internal Origin Copy() => this with { };

    internal void Fill(string topic) => _topic = topic;

    internal void Fill(StreamPosition position) => _position = position;

    internal void Fill(MessageKey key) => _key = key;

    internal void FillPublishTime(DateTimeOffset? publishTime) => _publishTime = publishTime;

    internal void FillEventTime(DateTimeOffset? eventTime) => _eventTime = eventTime;

    internal void Fill(IReadOnlyDictionary<string, string> properties) => _properties = properties;
}

/// <summary>One row change, decoded from one message.</summary>
public sealed class ChangeEvent
{
    private string? _keyText;

    public required ChangeOp Op { get; init; }

    /// <summary>Key columns in order. Empty for a truncate.</summary>
    public required Row Key { get; init; }

    public Row? Before { get; init; }

    public Row? After { get; init; }

    public SourceInfo? Source { get; init; }

    public required Origin Origin { get; init; }

    /// <summary>When the connector produced the event (envelope <c>ts_ms</c>).</summary>
    public long? TsMs { get; init; }

    /// <summary>The source transaction the change belongs to (Debezium's <c>transaction</c> block, with
    /// <c>provide.transaction.metadata=true</c>); null without it.</summary>
    public TransactionBlock? Transaction { get; init; }

    /// <summary>True when the change leaves the row absent (delete or tombstone).</summary>
    public bool IsDelete => Op is ChangeOp.Delete or ChangeOp.Tombstone;

    /// <summary>The key as canonical JSON text (<c>{"id":42}</c>); equal keys give equal text.</summary>
    public string KeyText => _keyText ??= Key.ToJson();

    /// <summary>The version that orders this change against others of the same key.</summary>
    public ChangeVersion Version => new(Source?.Lsn, Origin.Topic, Origin.Position);

    /// <summary>The row image to store for an upsert: <see cref="After"/>.</summary>
    public Row? Image => After;

    /// <summary>This change with <paramref name="lsn"/> as its source LSN: a change that carries no
    /// LSN (a tombstone) inherits the LSN of the state it replaces, so that versions stay ordered.</summary>
    public ChangeEvent WithInheritedLsn(long lsn) => WithLsn(lsn);

    /// <summary>This change with <paramref name="lsn"/> as its source order (a source epoch's order, or
    /// none when it does not fit).</summary>
    public ChangeEvent WithLsn(long? lsn) => new()
    {
        Op = Op,
        Key = Key,
        Before = Before,
        After = After,
        Source = (Source ?? new SourceInfo()) with { Lsn = lsn },
        Origin = Origin,
        TsMs = TsMs,
        Transaction = Transaction,
    };
}
