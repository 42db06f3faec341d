namespace Sync.Engine.DeadLetters;

/// <summary>One dead letter as a row of a sink's dead-letter table: who, which stage, where from,
/// why, when, and the message exactly as it was delivered (key with its encoding, the value bytes,
/// properties, times), so that a replay feeds the same message again.</summary>
/// <param name="Stage">read, decode, map or apply.</param>
/// <param name="Topic">The origin topic; null for an unreadable record whose topic is unknown.</param>
/// <param name="Position">The position (message id) in the origin topic.</param>
/// <param name="Key">The message key as the changelog file writes it (base64 when <paramref name="KeyBase64"/>).</param>
/// <param name="Payload">The value bytes as delivered (for a read-stage letter: the raw record); null when the message had no value.</param>
/// <param name="Location">Where an unreadable record was (<c>changelog.jsonl:17</c>); null for messages.</param>
public sealed record DeadLetterRow(
    string Materializer,
    string Stage,
    string? Topic,
    string Position,
    string? Key,
    bool KeyBase64,
    byte[]? Payload,
    IReadOnlyDictionary<string, string> Properties,
    DateTimeOffset? PublishTime,
    DateTimeOffset? EventTime,
    string? Location,
    string Reason,
    DateTimeOffset Time)
{
    /// <summary>The letter of a message that could not be decoded, mapped or applied.</summary>
    public static DeadLetterRow Of(string materializer, string stage, SourceMessage message, string reason, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (key, base64) = KeyText(message.Key);
        return new DeadLetterRow(
            materializer, stage, message.Topic, message.Position.ToString(), key, base64,
            message.HasValue ? message.Value.ToArray() : null,
            message.Properties, message.PublishTime, message.EventTime, null, Printable(reason), time);
    }

    /// <summary>The letter of a record that could not be read as a message.</summary>
    public static DeadLetterRow Of(string materializer, SourceError error, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new DeadLetterRow(
            materializer, "read", error.Topic, error.Position.ToString(), null, false, error.Raw.ToArray(),
            Changes.Origin.EmptyProperties, null, null, Printable(error.Location), Printable(error.Reason), time);
    }

    /// <summary>Text columns of SQL databases refuse NUL characters (PostgreSQL does): a key that
    /// holds one is kept as base64 of its bytes, which the replay decodes to the same key.</summary>
    private static (string? Text, bool Base64) KeyText(Changes.MessageKey key) =>
        key.Text is { } text && !key.IsBase64 && text.Contains('\0', StringComparison.Ordinal)
            ? (Convert.ToBase64String(key.GetBytes()), true)
            : (key.Text, key.IsBase64);

    private static string Printable(string text) => text.Replace('\0', '\uFFFD');
}

/// <summary>A dead letter read back from a dead-letter table, with its row id.</summary>
public sealed record StoredDeadLetter(long Id, DeadLetterRow Letter);

/// <summary>A sink that keeps dead letters in a table of its own database
/// (<c>deadLetterTarget: table</c>). The letters of a batch are written in the batch's own
/// transaction when the batch hands them over (<see cref="Sinks.SinkBatch.BeforeCommit"/>), so that they
/// commit, or roll back, with the batch and its checkpoint.</summary>
public interface IDeadLetterStore
{
    /// <summary>The table, for people: <c>postgres sink pg, table "sync"."dead_letters"</c>.</summary>
    string DeadLetterTable { get; }

    /// <summary>Writes letters in a transaction of their own; returns once they are durable.</summary>
    ValueTask AppendDeadLettersAsync(IReadOnlyList<DeadLetterRow> letters, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="max"/> letters of the materializer with an id above
    /// <paramref name="afterId"/> and at most <paramref name="throughId"/>, in id order.</summary>
    ValueTask<IReadOnlyList<StoredDeadLetter>> ReadDeadLettersAsync(string materializer, long afterId, long throughId, int max, CancellationToken cancellationToken);

    /// <summary>The highest letter id of the materializer; 0 when it has none.</summary>
    ValueTask<long> LastDeadLetterIdAsync(string materializer, CancellationToken cancellationToken);

    /// <summary>How many letters the materializer has.</summary>
    ValueTask<long> CountDeadLettersAsync(string materializer, CancellationToken cancellationToken);

    /// <summary>Removes letters (replayed ones).</summary>
    ValueTask DeleteDeadLettersAsync(string materializer, IReadOnlyList<long> ids, CancellationToken cancellationToken);
}
