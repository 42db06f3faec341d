using System.Runtime.CompilerServices;

namespace Sync.Sources.File;

/// <summary>A changelog file as a topic log. A tombstone is a line appended with <c>"value": null</c>
/// and the key exactly as given. Compaction blanks every line of the keys but their latest in place (spaces
/// over the same bytes): line numbers, and so positions and checkpoints, stay valid, readers skip
/// blank lines, and the subject's data is gone from the file, not only from a view of it.</summary>
public sealed class FileTopicLog : ITopicLog
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private long _knownLength = -1;
    private long _knownLines;

    public FileTopicLog(FileSourceOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _path = options.Path;
        _time = time ?? TimeProvider.System;
    }

    public ValueTask<string> RetentionNoteAsync(CancellationToken cancellationToken) => ValueTask.FromResult(
        "a changelog file has no retention: compaction blanks the erased keys' earlier lines in place, so no raw residue remains in it; copies of the file and dead-letter files are outside its reach");

    public async IAsyncEnumerable<SourceMessage> ScanRawAsync(Func<string, bool> topicFilter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var line in ChangelogLines.ReadAsync(_path, cancellationToken))
        {
            if (Parse(line) is { } message && topicFilter(message.Topic))
            {
                yield return message;
            }
        }
    }

    public async IAsyncEnumerable<SourceMessage> ReadCompactedAsync(Func<string, bool> topicFilter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // As Pulsar's compactor: the latest message per key; a key whose latest message is a
        // tombstone is removed; keyless messages are dropped.
        var latest = new Dictionary<(string Topic, string Key), SourceMessage>();
        await foreach (var message in ScanRawAsync(topicFilter, cancellationToken))
        {
            if (message.Key.Text is { } key)
            {
                latest[(message.Topic, key)] = message;
            }
        }

        foreach (var message in latest.Values.OrderBy(m => m.Position))
        {
            if (!message.IsTombstone)
            {
                yield return message;
            }
        }
    }

    public async ValueTask<IReadOnlyList<TopicEnd>> EndsAsync(Func<string, bool> topicFilter, IReadOnlyDictionary<string, StreamPosition> after, CancellationToken cancellationToken)
    {
        var ends = new Dictionary<string, (StreamPosition Last, long Behind)>(StringComparer.Ordinal);
        await foreach (var message in ScanRawAsync(topicFilter, cancellationToken))
        {
            var behind = ends.TryGetValue(message.Topic, out var end) ? end.Behind : 0;
            if (!after.TryGetValue(message.Topic, out var position) || message.Position > position)
            {
                behind++;
            }

            ends[message.Topic] = (message.Position, behind);
        }

        return ends.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => new TopicEnd(e.Key, e.Value.Last, e.Value.Behind)).ToList();
    }

    public ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, CancellationToken cancellationToken) =>
        PublishTombstoneAsync(topic, key, Origin.EmptyProperties, cancellationToken);

    public ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, IReadOnlyDictionary<string, string> properties, CancellationToken cancellationToken) =>
        PublishAsync(topic, key, null, properties, null, cancellationToken);

    public async ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken)
    {
        if (key.Text is null)
        {
            throw new ArgumentException(value is null ? "a tombstone needs a key" : "a keyed message needs a key", nameof(key));
        }

        var message = new SourceMessage
        {
            Topic = topic,
            Position = StreamPosition.Start,
            Key = key,
            Value = value ?? ReadOnlyMemory<byte>.Empty,
            HasValue = value is not null,
            Properties = properties,
            PublishTime = _time.GetUtcNow(),
            EventTime = eventTime,
        };
        var buffer = new MemoryStream();
        buffer.Write(ChangelogLineWriter.ToLine(message));
        buffer.WriteByte((byte)'\n');
        var endsWithNewline = true;
        var lines = _knownLines;
        if (new FileInfo(_path).Length != _knownLength)
        {
            // Someone else wrote since this log last appended: count again.
            lines = 0;
            await foreach (var line in ChangelogLines.ReadAsync(_path, cancellationToken))
            {
                lines = line.Number;
            }
        }

        await using (var probe = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            if (probe.Length > 0)
            {
                probe.Seek(-1, SeekOrigin.End);
                endsWithNewline = probe.ReadByte() == '\n';
            }
        }

        // One write in append mode, so that a concurrent writer's lines are never interleaved with it.
        var bytes = endsWithNewline ? buffer.ToArray() : [(byte)'\n', .. buffer.ToArray()];
        await using var file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        await file.WriteAsync(bytes, cancellationToken);
        await file.FlushAsync(cancellationToken);
        file.Flush(flushToDisk: true);
        _knownLines = lines + 1;
        _knownLength = file.Length;
        return StreamPosition.ForLine(lines + 1);
    }

    public async ValueTask<CompactionOutcome> CompactAsync(string topic, IReadOnlyCollection<MessageKey> keys, CancellationToken cancellationToken)
    {
        var wanted = keys.Where(k => k.Text is not null).Select(k => k.Text!).ToHashSet(StringComparer.Ordinal);
        var latest = new Dictionary<string, long>(StringComparer.Ordinal);
        var candidates = new List<(string Key, long Number, long Offset, int Length)>();
        try
        {
            await foreach (var line in ChangelogLines.ReadAsync(_path, cancellationToken))
            {
                if (Parse(line) is not { } message || message.Topic != topic || message.Key.Text is not { } key || !wanted.Contains(key))
                {
                    continue;
                }

                candidates.Add((key, line.Number, line.Offset, line.Bytes.Length));
                latest[key] = line.Number;
            }

            var blanked = 0L;
            await using var file = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            foreach (var (key, number, offset, length) in candidates)
            {
                // As Pulsar's compactor keeps the latest message per key: everything of the key before
                // its latest line goes, earlier tombstones included. The latest line is the erase's
                // tombstone, or the copy of a scrubbed key's message without its before image.
                if (number < latest[key])
                {
                    file.Seek(offset, SeekOrigin.Begin);
                    await file.WriteAsync(Spaces(length), cancellationToken);
                    blanked++;
                }
            }

            await file.FlushAsync(cancellationToken);
            file.Flush(flushToDisk: true);
            return new CompactionOutcome("SUCCESS", blanked);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new CompactionOutcome("ERROR", null, e.Message);
        }
    }

    /// <summary>A changelog file has no backlog apart from its lines, and compaction already blanked
    /// the erased keys' earlier lines in place; cutting the file would lose other keys' history and
    /// break the line positions that checkpoints hold. So there is nothing more to truncate.</summary>
    public ValueTask<TruncationOutcome> TruncateAsync(string topic, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new TruncationOutcome(
            "NOT_NEEDED",
            "a changelog file has no backlog beyond its lines: compaction already blanked the erased keys' earlier lines in place, and the file is not cut (other keys' history and the checkpoints' line numbers stay)"));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static SourceMessage? Parse(ChangelogLine line)
    {
        if (line.Bytes.Span.Trim(" \t\r"u8).IsEmpty)
        {
            return null;
        }

        try
        {
            return ChangelogLineParser.Parse(line.Bytes, StreamPosition.ForLine(line.Number), out _);
        }
        catch (FormatException)
        {
            // A malformed line is the runtime's dead letter, not a message erasure can match.
            return null;
        }
    }

    private static byte[] Spaces(int length)
    {
        var spaces = new byte[length];
        Array.Fill(spaces, (byte)' ');
        return spaces;
    }
}
