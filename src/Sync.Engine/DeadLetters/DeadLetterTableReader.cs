namespace Sync.Engine.DeadLetters;

/// <summary>Feeds the letters of a dead-letter table (<see cref="SinkDeadLetterTable"/>) again, as
/// source records: a letter's message rebuilt from its columns (key with its encoding, the value
/// bytes, properties, times), or an unreadable record's raw bytes parsed again as a changelog line.
/// <para>Reads the materializer's letters up to the highest id present when the replay starts, so
/// that letters which fail again (written back with new ids) are not read a second time. A replay
/// deletes each batch's letters once the batch is acknowledged (after the sink committed); an
/// interrupted replay therefore starts again with the letters not yet deleted. A dry run deletes
/// nothing.</para></summary>
public sealed class DeadLetterTableReader : OwnDeadLetterReader
{
    private readonly IDeadLetterStore _store;
    private readonly List<long> _unacknowledged = [];
    private long? _last;
    private long _after;

    public DeadLetterTableReader(IDeadLetterStore store, string materializer, bool dryRun)
        : base(materializer, dryRun)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
    }

    public override async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        _last ??= await _store.LastDeadLetterIdAsync(Materializer, cancellationToken);
        var letters = await _store.ReadDeadLettersAsync(Materializer, _after, _last.Value, maxRecords, cancellationToken);
        if (letters.Count == 0)
        {
            return null;
        }

        var records = new List<SourceRecord>(letters.Count);
        foreach (var (id, letter) in letters)
        {
            _after = id;
            _unacknowledged.Add(id);
            Saw(new DeadLetterEntry(letter.Stage, letter.Reason, letter.Topic, letter.Position));
            records.Add(ToRecord(_store.DeadLetterTable, id, letter));
        }

        return records;
    }

    /// <summary>The record a letter of <paramref name="table"/> stands for: its message rebuilt, or
    /// for an unreadable record its raw bytes parsed again (a source error when they still do not parse).</summary>
    public static SourceRecord ToRecord(string table, long id, DeadLetterRow letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var position = letter.Position == "-" ? StreamPosition.Start : StreamPosition.Parse(letter.Position);
        if (letter.Stage == "read")
        {
            // An unreadable record: its raw bytes, which a fix in the table may have repaired.
            var raw = letter.Payload ?? [];
            try
            {
                return new SourceRecord(ChangelogLineParser.Parse(raw, position, out _), null);
            }
            catch (FormatException e)
            {
                return new SourceRecord(null, new SourceError(letter.Location ?? $"{table} id {id}", letter.Topic, position, e.Message, raw));
            }
        }

        if (letter.Topic is null)
        {
            return new SourceRecord(null, new SourceError($"{table} id {id}", null, position, $"dead letter {id} of stage {letter.Stage} has no topic", letter.Payload ?? []));
        }

        return new SourceRecord(
            new SourceMessage
            {
                Topic = letter.Topic,
                Position = position,
                Key = letter.Key is null ? MessageKey.None : new MessageKey(letter.Key, letter.KeyBase64),
                Value = letter.Payload ?? ReadOnlyMemory<byte>.Empty,
                HasValue = letter.Payload is not null,
                Properties = letter.Properties,
                PublishTime = letter.PublishTime,
                EventTime = letter.EventTime,
            },
            null);
    }

    public override async ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
    {
        if (DryRun || _unacknowledged.Count == 0)
        {
            _unacknowledged.Clear();
            return;
        }

        await _store.DeleteDeadLettersAsync(Materializer, [.. _unacknowledged], cancellationToken);
        _unacknowledged.Clear();
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
