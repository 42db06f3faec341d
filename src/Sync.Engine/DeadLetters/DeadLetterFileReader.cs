namespace Sync.Engine.DeadLetters;

/// <summary>Feeds the letters of a dead-letter file (<see cref="DeadLetterWriter"/>) again, as
/// source records: a letter's message as it was, or an unreadable line's raw text, parsed again.
/// <para>A replay first renames the file to <c>FILE.replaying</c>, so that letters that fail again
/// go to a fresh file at the old path. After each acknowledged batch the number of lines done is
/// stored in <c>FILE.replaying.done</c>; an interrupted replay resumes after them, and the finished
/// one deletes both. A dry run reads both files (the unfinished replay's first) and changes nothing.</para></summary>
public sealed class DeadLetterFileReader : OwnDeadLetterReader
{
    private readonly string _path;
    private Queue<string>? _files;
    private IAsyncEnumerator<ChangelogLine>? _lines;
    private string _currentFile = string.Empty;
    private long _linesRead;
    private long _skip;

    public DeadLetterFileReader(string path, string materializer, bool dryRun)
        : base(materializer, dryRun)
    {
        _path = path;
    }

    private string Replaying => _path + ".replaying";

    private string Done => _path + ".replaying.done";

    public override async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        _files ??= Open();
        var records = new List<SourceRecord>();
        while (records.Count < maxRecords)
        {
            if (_lines is null)
            {
                if (!_files.TryDequeue(out var file))
                {
                    break;
                }

                _currentFile = file;
                _lines = ChangelogLines.ReadAsync(file, cancellationToken).GetAsyncEnumerator(cancellationToken);
                _linesRead = 0;
            }

            if (!await _lines.MoveNextAsync())
            {
                await _lines.DisposeAsync();
                _lines = null;
                continue;
            }

            var line = _lines.Current;
            _linesRead++;
            if (line.Number <= _skip && _currentFile == Replaying)
            {
                continue;
            }

            if (line.Bytes.IsEmpty)
            {
                continue;
            }

            records.Add(ToRecord(line));
        }

        if (records.Count == 0 && _lines is null && _files.Count == 0)
        {
            // Every earlier batch was acknowledged before this read: the replay is complete.
            Finish();
            return null;
        }

        return records;
    }

    private void Finish()
    {
        if (!DryRun && _currentFile == Replaying)
        {
            File.Delete(Replaying);
            File.Delete(Done);
        }
    }

    private Queue<string> Open()
    {
        var files = new Queue<string>();
        if (File.Exists(Done) && File.Exists(Replaying))
        {
            _skip = long.Parse(File.ReadAllText(Done).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
        }

        if (DryRun)
        {
            foreach (var file in new[] { Replaying, _path }.Where(File.Exists))
            {
                files.Enqueue(file);
            }

            return files;
        }

        if (!File.Exists(Replaying))
        {
            if (!File.Exists(_path))
            {
                return files;
            }

            File.Move(_path, Replaying);
        }

        files.Enqueue(Replaying);
        return files;
    }

    private SourceRecord ToRecord(ChangelogLine line)
    {
        var location = $"{Path.GetFileName(_currentFile)}:{line.Number}";
        try
        {
            return ToRecord(line, location);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            // Text that is not valid UTF-8 (a letter written before messages that are not text were
            // kept as base64): the letter is reported with its line, and the others go on.
            var reason = $"not a readable dead letter: {e.Message}";
            Saw(new DeadLetterEntry("read", reason, null, "-"));
            return new SourceRecord(null, new SourceError(location, null, StreamPosition.Start, reason, line.Bytes));
        }
    }

    private SourceRecord ToRecord(ChangelogLine line, string location)
    {
        JsonElement letter;
        try
        {
            using var document = JsonDocument.Parse(line.Bytes);
            letter = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            var reason = $"not a dead letter: {e.Message}";
            Saw(new DeadLetterEntry("read", reason, null, "-"));
            return new SourceRecord(null, new SourceError(location, null, StreamPosition.Start, reason, line.Bytes));
        }

        var stage = Text(letter, "stage") ?? "?";
        var topic = Text(letter, "topic");
        var position = Text(letter, "position") ?? "-";
        Saw(new DeadLetterEntry(stage, Text(letter, "reason") ?? string.Empty, topic, position));
        if (Text(letter, "materializer") is { } owner && owner != Materializer && !DryRun)
        {
            throw new SourceException($"{location} is a dead letter of materializer {owner}, not {Materializer}: replay {owner} first, or give each materializer its own deadLetter file");
        }

        var streamPosition = position == "-" ? StreamPosition.Start : StreamPosition.Parse(position);
        var raw = letter.TryGetProperty("message", out _)
            ? RawProperty(line.Bytes, "message")
            : Text(letter, "rawBase64") is { } rawBase64 ? Convert.FromBase64String(rawBase64) : Encoding.UTF8.GetBytes(Text(letter, "raw") ?? string.Empty);
        try
        {
            return new SourceRecord(ChangelogLineParser.Parse(raw, streamPosition, out _), null);
        }
        catch (FormatException e)
        {
            return new SourceRecord(null, new SourceError(Text(letter, "location") ?? location, topic, streamPosition, e.Message, raw));
        }
    }

    /// <summary>The bytes of a top-level property's value as they are in the line, not transcoded
    /// (a message whose value is not valid UTF-8 is replayed with the same bytes, and fails again with its reason).</summary>
    private static ReadOnlyMemory<byte> RawProperty(ReadOnlyMemory<byte> line, string name)
    {
        var reader = new Utf8JsonReader(line.Span);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var found = reader.ValueTextEquals(name);
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            if (found)
            {
                return line[start..(int)reader.BytesConsumed];
            }
        }

        return ReadOnlyMemory<byte>.Empty;
    }

    private static string? Text(JsonElement letter, string name) =>
        letter.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public override ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
    {
        if (DryRun || _currentFile != Replaying)
        {
            return ValueTask.CompletedTask;
        }

        if (_lines is null && _files is { Count: 0 })
        {
            Finish();
        }
        else
        {
            File.WriteAllText(Done, _linesRead.ToString(CultureInfo.InvariantCulture));
        }

        return ValueTask.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_lines is not null)
        {
            await _lines.DisposeAsync();
            _lines = null;
        }
    }
}
