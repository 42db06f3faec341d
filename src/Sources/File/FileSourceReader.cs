namespace Sync.Sources.File;

/// <summary>Reads a changelog file for one materializer. The position of a message is its line
/// number; the reader's cursor (last line read) is stored with each batch under
/// <see cref="CursorStream"/> so that a restart resumes after it, and a fingerprint of that line
/// under <see cref="FingerprintStream"/> so that a restart can tell the same file from a replaced one.</summary>
public sealed class FileSourceReader : ISourceReader
{
    private readonly FileSourceOptions _options;
    private readonly SourceReadRequest _request;
    private readonly string _displayName;
    private readonly string _cursorStream;
    private readonly string _fingerprintStream;
    private readonly long _resumeAfterLine;
    private readonly long? _resumeFingerprint;
    private FileStream? _stream;
    private readonly LineBuffer _lines = new();
    private bool _eof;
    private long _line;
    private bool _ended;
    private readonly Dictionary<string, StreamPosition> _cursor = new(StringComparer.Ordinal);

    public FileSourceReader(string sourceName, FileSourceOptions options, SourceReadRequest request)
    {
        _options = options;
        _request = request;
        _displayName = Path.GetFileName(options.Path);
        _cursorStream = CursorStream(sourceName);
        _fingerprintStream = FingerprintStream(sourceName);
        _resumeAfterLine = !request.FromBeginning && request.Checkpoint.TryGetValue(_cursorStream, out var cursor) ? cursor.Entry : 0;
        _resumeFingerprint = _resumeAfterLine > 0 ? StoredFingerprint(sourceName, request.Checkpoint, _resumeAfterLine) : null;
    }

    /// <summary>The checkpoint stream that holds a file source's line cursor.</summary>
    public static string CursorStream(string sourceName) => $"file-source:{sourceName}";

    /// <summary>The checkpoint stream that holds the fingerprint of the cursor's line: its line number
    /// as the ledger and a 63-bit hash of its bytes as the entry. The line comes first because sinks
    /// and the rollback guard compare checkpoint entries as positions (a stored entry at or past the
    /// batch's is kept, one behind what was written is a loss), which holds for line numbers only.</summary>
    public static string FingerprintStream(string sourceName) => $"file-source-fingerprint:{sourceName}";

    /// <summary>Where versions up to 0.1 kept the fingerprint, hash first (<c>hash:line:-1</c>): since
    /// positions compare the ledger first, a later line with a smaller hash was taken for an older
    /// position and not stored. Read at a resume only, never written.</summary>
    private static string HashFirstFingerprintStream(string sourceName) => $"file-source-line:{sourceName}";

    /// <summary>The hash stored for line <paramref name="line"/>, or null when the checkpoint holds none
    /// for it (one stored before fingerprints were kept: such a file is not checked).</summary>
    private static long? StoredFingerprint(string sourceName, IReadOnlyDictionary<string, StreamPosition> checkpoint, long line)
    {
        if (checkpoint.TryGetValue(FingerprintStream(sourceName), out var lineFirst) && lineFirst.Ledger == line)
        {
            return lineFirst.Entry;
        }

        return checkpoint.TryGetValue(HashFirstFingerprintStream(sourceName), out var hashFirst) && hashFirst.Entry == line ? hashFirst.Ledger : null;
    }

    public IReadOnlyDictionary<string, StreamPosition> Cursor => _cursor;

    public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        _stream ??= Open();
        var records = new List<SourceRecord>(Math.Min(maxRecords, 1024));
        var lingerUntil = DateTime.MaxValue;
        while (records.Count < maxRecords)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_lines.TryTakeLine(out var line))
            {
                TakeLine(line.Span);
                if (_line <= _resumeAfterLine || IsBlank(line.Span))
                {
                    continue;
                }

                if (Parse(line) is { } record)
                {
                    records.Add(record);
                    if (lingerUntil == DateTime.MaxValue)
                    {
                        lingerUntil = DateTime.UtcNow + linger;
                    }
                }

                continue;
            }

            if (!_eof)
            {
                _eof = await _lines.FillAsync(_stream, cancellationToken) == 0;
                if (!_eof)
                {
                    continue;
                }

                RefuseIfBehindCursor();
            }

            if (!_options.Follow)
            {
                if (_lines.HasPartialLine)
                {
                    // The last line has no newline: it is still a line.
                    var last = _lines.TakePartialLine();
                    TakeLine(last.Span);
                    if (_line > _resumeAfterLine && !IsBlank(last.Span) && Parse(last) is { } record)
                    {
                        records.Add(record);
                    }
                }

                if (records.Count > 0)
                {
                    return records;
                }

                // One empty batch at the end carries the cursor past trailing lines that gave no
                // record (other topics, blank lines), so that a restart does not read them again.
                if (_ended)
                {
                    return null;
                }

                _ended = true;
                return records;
            }

            if (records.Count > 0 && DateTime.UtcNow >= lingerUntil)
            {
                return records;
            }

            // Following: wait for the file to grow.
            await Task.Delay(records.Count > 0 ? Min(_options.PollInterval, lingerUntil - DateTime.UtcNow) : _options.PollInterval, cancellationToken);
            RefuseIfShrunk();
            _eof = false;
        }

        return records;
    }

    public ValueTask AcknowledgeAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Every topic of the file shares its lines, so a stream is at its end when the whole
    /// file as it is now has been taken: no byte left in the buffer, none after it on disk.</summary>
    public ValueTask<bool> IsAtEndAsync(string stream, StreamPosition lastRead, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_stream is { } file && !_lines.HasPartialLine && RandomAccess.GetLength(file.SafeFileHandle) == _lines.Offset);

    /// <summary>True: the cursor travels with each batch's checkpoint and each line is a copy, so a
    /// batch read ahead changes nothing of one being applied.</summary>
    public bool CanReadAhead => true;

    public ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        _stream?.Dispose();
        _stream = null;
        _lines.Dispose();

        return ValueTask.CompletedTask;
    }

    /// <summary>Moves the cursor and its fingerprint to the next line, and checks, at the line a
    /// restart resumes after, that it is still the line that was read then.</summary>
    private void TakeLine(ReadOnlySpan<byte> line)
    {
        _line++;
        var fingerprint = Fingerprint(line);
        _cursor[_cursorStream] = StreamPosition.ForLine(_line);
        _cursor[_fingerprintStream] = new StreamPosition(_line, fingerprint);
        if (_line == _resumeAfterLine && _resumeFingerprint is { } stored && stored != fingerprint && !IsBlank(line))
        {
            // A line blanked since (erasure compaction blanks lines in place, keeping their length
            // and the line numbers) is the same file; any other change of the line means the file
            // was replaced, and its lines up to the cursor would be skipped unread.
            throw new SourceException(
                $"changelog file {_options.Path} was replaced: its line {_line} is not the line materializer '{_request.Materializer}' "
                + $"stored as its checkpoint (file-source cursor {StreamPosition.ForLine(_line)}, line fingerprint {stored:x}, now {fingerprint:x}), "
                + $"so reading on would skip its lines 1 to {_line} unread; replay it from the first line with "
                + $"'sync backfill --config CONFIG --materializer {_request.Materializer}', which stores a new checkpoint");
        }
    }

    /// <summary>FNV-1a over the line's bytes, kept to 63 bits so that it stays a non-negative position field.</summary>
    private static long Fingerprint(ReadOnlySpan<byte> line)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in line)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return (long)(hash & long.MaxValue);
    }

    private SourceRecord? Parse(ReadOnlyMemory<byte> line)
    {
        var position = StreamPosition.ForLine(_line);
        try
        {
            var message = ChangelogLineParser.Parse(line, position, out _);
            return _request.TopicFilter(message.Topic) && !BeforeStart(message.Topic, position) ? new SourceRecord(message, null) : null;
        }
        catch (FormatException e)
        {
            ChangelogLineParser.TryReadTopic(line, out var topic);
            if (topic is not null && (!_request.TopicFilter(topic) || BeforeStart(topic, position)))
            {
                return null;
            }

            return new SourceRecord(null, new SourceError($"{_displayName}:{_line}", topic, position, e.Message, line));
        }
    }

    /// <summary>A line before the topic's <c>backfill --from</c> position (a line number) is not read;
    /// the line at it is.</summary>
    private bool BeforeStart(string topic, StreamPosition position) =>
        _request.FromBeginning && _request.StartAt.TryGetValue(topic, out var start) && position < start;

    private FileStream Open()
    {
        try
        {
            return new FileStream(_options.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SourceException($"changelog file {_options.Path} does not exist");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Opening a directory fails as a denied access, which would send the reader to the permissions.
            var reason = Directory.Exists(_options.Path) ? "it is a directory, not a changelog file" : e.Message;
            throw new SourceException($"cannot open changelog file {_options.Path}: {reason}", e);
        }
    }

    /// <summary>At the end of the file, a stored cursor past its last line means the file was
    /// replaced or truncated: reading on would skip every line up to the cursor without a word, so
    /// the read is refused, naming the file, the cursor, the line count and the reset.</summary>
    private void RefuseIfBehindCursor()
    {
        var lines = _line + (_lines.HasPartialLine ? 1 : 0);
        if (lines < _resumeAfterLine)
        {
            throw new SourceException(
                $"changelog file {_options.Path} has {lines} lines, but materializer '{_request.Materializer}' stored "
                + $"line {_resumeAfterLine} as its checkpoint (file-source cursor {StreamPosition.ForLine(_resumeAfterLine)}): the file was replaced "
                + $"or truncated, and reading on would skip its lines 1 to {_resumeAfterLine}; replay it from the first line with "
                + $"'sync backfill --config CONFIG --materializer {_request.Materializer}', which stores a new checkpoint");
        }
    }

    /// <summary>A followed file that became shorter than what was read was replaced or truncated
    /// under the reader: its new lines would be skipped, so the read is refused.</summary>
    private void RefuseIfShrunk()
    {
        var length = RandomAccess.GetLength(_stream!.SafeFileHandle);
        var onDisk = new FileInfo(_options.Path);
        var replaced = onDisk.Exists && onDisk.Length < _lines.Offset;
        if (length < _lines.Offset || replaced)
        {
            throw new SourceException(
                $"changelog file {_options.Path} became shorter while followed ({(replaced ? onDisk.Length : length)} bytes, "
                + $"{_lines.Offset} bytes were read up to line {_line}): it was replaced or truncated, and its new lines would be skipped; "
                + $"replay it from the first line with 'sync backfill --config CONFIG --materializer {_request.Materializer}'");
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? (a < TimeSpan.Zero ? TimeSpan.Zero : a) : (b < TimeSpan.Zero ? TimeSpan.Zero : b);
}
