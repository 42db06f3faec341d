namespace Sync.Engine.Tests.Sources;

public sealed class FileSourceTests() : TempDirectoryTest("sync-file-source-")
{
    private const string Users = "persistent://public/default/db1.public.users";

    [Fact]
    public async Task Messages_carry_their_line_number_key_and_value_bytes()
    {
        var path = Write(
            $$$"""{"topic":"{{{Users}}}","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"op":"c"},"properties":{"p":"1"},"publishTime":"2025-06-02T09:00:00Z"}""",
            $$$"""{"topic":"{{{Users}}}","key":{"id":2},"value":null}""");

        var records = await ReadAll(path);

        var first = records[0].Message!;
        Assert.Equal(StreamPosition.ForLine(1), first.Position);
        Assert.Equal(new MessageKey("eyJpZCI6MX0=", true), first.Key);
        Assert.Equal("{\"id\":1}", Encoding.UTF8.GetString(first.Key.GetBytes()));
        Assert.Equal("{\"op\":\"c\"}", Encoding.UTF8.GetString(first.Value.Span));
        Assert.Equal("1", first.Properties["p"]);
        Assert.Equal(new DateTimeOffset(2025, 6, 2, 9, 0, 0, TimeSpan.Zero), first.PublishTime);

        var second = records[1].Message!;
        Assert.Equal(StreamPosition.ForLine(2), second.Position);
        Assert.Equal(new MessageKey("{\"id\":2}", false), second.Key);
        Assert.True(second.IsTombstone);
        Assert.False(second.HasValue);
    }

    [Fact]
    public async Task A_malformed_line_is_an_error_naming_file_and_line_and_reading_goes_on()
    {
        var path = Write(
            $$$"""{"topic":"{{{Users}}}","value":{"op":"c"}}""",
            """{"topic": "x", "value": {"op": "c"}""",
            $$$"""{"topic":"{{{Users}}}","vaule":{}}""",
            """not json at all""",
            $$$"""{"topic":"{{{Users}}}","value":{"op":"u"}}""");

        var records = await ReadAll(path, _ => true);

        Assert.Equal(5, records.Count);
        Assert.NotNull(records[0].Message);
        Assert.Equal("changelog.jsonl:2", records[1].Error!.Location);
        Assert.Contains("invalid JSON", records[1].Error!.Reason, StringComparison.Ordinal);
        Assert.Equal("x", records[1].Error!.Topic);
        Assert.Equal("changelog.jsonl:3", records[2].Error!.Location);
        Assert.Contains("unknown field \"vaule\"", records[2].Error!.Reason, StringComparison.Ordinal);
        Assert.Equal("changelog.jsonl:4", records[3].Error!.Location);
        Assert.Null(records[3].Error!.Topic);
        Assert.Equal(StreamPosition.ForLine(5), records[4].Message!.Position);
    }

    [Theory]
    [InlineData("""{"value":{}}""", "\"topic\" is required")]
    [InlineData("""{"topic":"t"}""", "\"value\" is required (null for a tombstone)")]
    [InlineData("""{"topic":"t","value":[1]}""", "\"value\" must be a JSON object, a string holding the payload, or null")]
    [InlineData("""{"topic":"t","value":{},"keyBase64":true,"key":{"id":1}}""", "\"keyBase64\": true needs \"key\" to be a string holding base64")]
    [InlineData("""{"topic":"t","value":{},"keyBase64":true,"key":"%%%"}""", "\"key\" is not valid base64 although \"keyBase64\" is true")]
    [InlineData("""{"topic":"t","value":{},"publishTime":"yesterday"}""", "\"publishTime\" must be an ISO-8601 date-time string")]
    [InlineData("""{"topic":"t","value":{},"properties":{"a":1}}""", "\"properties.a\" must be a string")]
    [InlineData("""[1,2]""", "a changelog line must be a JSON object")]
    [InlineData("""{"topic":"t","value":{}} {}""", "invalid JSON at byte 25: '{' is invalid after a single JSON value. Expected end of data")]
    public void A_line_that_breaks_the_format_says_what_is_wrong(string line, string reason)
    {
        var e = Assert.Throws<FormatException>(() => ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _));
        Assert.Equal(reason, e.Message);
    }

    [Theory]
    [InlineData("topic")]
    [InlineData("key")]
    [InlineData("property")]
    [InlineData("field name")]
    public async Task A_line_with_invalid_UTF8_in_a_string_is_an_error_naming_file_and_line_and_reading_goes_on(string where)
    {
        // Found by the fuzz campaign (tests/Sync.Chaos --fuzz): the JSON reader checks UTF-8 only
        // when a string is read, and then throws InvalidOperationException, not JsonException.
        var broken = where switch
        {
            "topic" => "{\"topic\":\"a\xFF\",\"value\":{}}",
            "key" => "{\"topic\":\"" + Users + "\",\"key\":\"\xC3\x28\",\"value\":{}}",
            "property" => "{\"topic\":\"" + Users + "\",\"value\":{},\"properties\":{\"p\":\"\\ud800\"}}",
            _ => "{\"topic\":\"" + Users + "\",\"va\xFElue\":{}}",
        };
        var path = Path.Combine(Dir, "changelog.jsonl");
        File.WriteAllBytes(path, [.. Encoding.Latin1.GetBytes(broken + "\n"), .. Encoding.UTF8.GetBytes($$$"""{"topic":"{{{Users}}}","value":{"op":"u"}}""" + "\n")]);

        var records = await ReadAll(path, _ => true);

        Assert.Equal(2, records.Count);
        Assert.Equal("changelog.jsonl:1", records[0].Error!.Location);
        Assert.Contains("invalid", records[0].Error!.Reason, StringComparison.Ordinal);
        Assert.Equal(StreamPosition.ForLine(2), records[1].Message!.Position);
    }

    [Fact]
    public async Task Only_the_requested_topics_are_returned()
    {
        var path = Write(
            """{"topic":"a","value":{}}""",
            """{"topic":"b","value":{}}""",
            """{"topic":"b","valu":{}}""");

        var records = await ReadAll(path, t => t == "a");

        Assert.Equal("a", Assert.Single(records).Message!.Topic);
    }

    [Fact]
    public async Task Reading_resumes_after_the_cursor_stored_in_the_checkpoint()
    {
        var path = Write("""{"topic":"a","value":{}}""", """{"topic":"a","value":{}}""", """{"topic":"a","value":{}}""");
        var checkpoint = new Dictionary<string, StreamPosition> { [FileSourceReader.CursorStream("changelog")] = StreamPosition.ForLine(2) };

        var records = await ReadAll(path, _ => true, checkpoint);

        Assert.Equal(StreamPosition.ForLine(3), Assert.Single(records).Message!.Position);
    }

    [Fact]
    public async Task A_backfill_ignores_the_cursor()
    {
        var path = Write("""{"topic":"a","value":{}}""", """{"topic":"a","value":{}}""");
        var checkpoint = new Dictionary<string, StreamPosition> { [FileSourceReader.CursorStream("changelog")] = StreamPosition.ForLine(2) };

        var records = await ReadAll(path, _ => true, checkpoint, fromBeginning: true);

        Assert.Equal(2, records.Count);
    }

    [Fact]
    public async Task The_cursor_moves_past_trailing_lines_of_other_topics_and_blank_lines()
    {
        var path = Write("""{"topic":"a","value":{}}""", """{"topic":"b","value":{}}""", "", "   ");
        await using var reader = Open(path, t => t == "a");

        var batches = new List<IReadOnlyList<SourceRecord>>();
        while (await reader.ReadBatchAsync(100, TimeSpan.Zero, CancellationToken.None) is { } batch)
        {
            batches.Add(batch);
        }

        Assert.Equal(StreamPosition.ForLine(4), reader.Cursor[FileSourceReader.CursorStream("changelog")]);
        Assert.Single(batches.SelectMany(b => b));
    }

    /// <summary>Sinks keep a stored checkpoint entry that is at or past the batch's, and the rollback
    /// guard takes an entry below what was written for a loss: the fingerprint entry must grow with
    /// the line whatever the lines' hashes are. Twenty different lines give hashes in both orders.</summary>
    [Fact]
    public async Task The_fingerprint_entry_grows_with_the_line_whatever_the_hashes()
    {
        var path = Write([.. Enumerable.Range(1, 20).Select(i => $$$"""{"topic":"a","value":{"n":{{{i}}}}}""")]);
        await using var reader = Open(path, _ => true);

        var entries = new List<StreamPosition>();
        while (await reader.ReadBatchAsync(1, TimeSpan.Zero, CancellationToken.None) is { Count: > 0 })
        {
            entries.Add(reader.Cursor[FileSourceReader.FingerprintStream("changelog")]);
        }

        Assert.Equal(20, entries.Count);
        Assert.Equal(entries.OrderBy(e => e), entries);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), entries.Select(e => e.Ledger));
        // The hashes themselves are not ordered, or this test would prove nothing.
        Assert.NotEqual(entries.Select(e => e.Entry).Order(), entries.Select(e => e.Entry));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_resume_checks_the_stored_fingerprint_in_either_layout(bool hashFirst)
    {
        var path = Write("""{"topic":"a","value":{"n":1}}""", """{"topic":"a","value":{"n":2}}""");
        await using (var first = Open(path, _ => true))
        {
            while (await first.ReadBatchAsync(100, TimeSpan.Zero, CancellationToken.None) is { } _)
            {
            }

            var stored = first.Cursor[FileSourceReader.FingerprintStream("changelog")];
            var checkpoint = new Dictionary<string, StreamPosition>
            {
                [FileSourceReader.CursorStream("changelog")] = StreamPosition.ForLine(2),
                // Versions up to 0.1 stored the hash first under file-source-line.
                [hashFirst ? "file-source-line:changelog" : FileSourceReader.FingerprintStream("changelog")] = hashFirst ? new StreamPosition(stored.Entry, 2) : stored,
            };
            Write("""{"topic":"a","value":{"n":1}}""", """{"topic":"a","value":{"n":9}}""", """{"topic":"a","value":{"n":3}}""");

            var error = await Assert.ThrowsAsync<SourceException>(() => ReadAll(path, _ => true, checkpoint));

            Assert.Contains("was replaced: its line 2 is not the line materializer 'm' stored as its checkpoint", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_last_line_without_newline_is_read()
    {
        var path = Path.Combine(Dir, "changelog.jsonl");
        await File.WriteAllTextAsync(path, "{\"topic\":\"a\",\"value\":{}}\r\n{\"topic\":\"a\",\"value\":{\"x\":1}}");

        var records = await ReadAll(path, _ => true);

        Assert.Equal(2, records.Count);
        Assert.Equal("{\"x\":1}", Encoding.UTF8.GetString(records[1].Message!.Value.Span));
    }

    [Fact]
    public async Task Batches_hold_at_most_the_requested_number_of_records()
    {
        var path = Write(Enumerable.Range(0, 25).Select(_ => """{"topic":"a","value":{}}""").ToArray());
        await using var reader = Open(path, _ => true);

        var sizes = new List<int>();
        while (await reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None) is { } batch)
        {
            sizes.Add(batch.Count);
        }

        Assert.Equal([10, 10, 5, 0], sizes);
    }

    [Fact]
    public async Task A_following_reader_picks_up_lines_appended_later()
    {
        var path = Write("""{"topic":"a","value":{}}""");
        var options = new FileSourceOptions { Path = path, Follow = true, PollInterval = TimeSpan.FromMilliseconds(10) };
        await using var reader = new FileSourceReader("changelog", options, Request(_ => true));

        var first = await reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None);
        Assert.Single(first!);

        var next = reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None).AsTask();
        Assert.False(next.IsCompleted);
        await File.AppendAllTextAsync(path, "{\"topic\":\"a\",\"value\":{\"n\":2}}\n");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var second = await next.WaitAsync(timeout.Token);

        Assert.Equal(StreamPosition.ForLine(2), Assert.Single(second!).Message!.Position);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_cursor_past_the_last_line_is_refused_naming_file_cursor_and_line_count(bool follow)
    {
        var path = Write("""{"topic":"a","value":{}}""", """{"topic":"a","value":{"n":2}}""");
        var options = new FileSourceOptions { Path = path, Follow = follow, PollInterval = TimeSpan.FromMilliseconds(10) };
        var checkpoint = new Dictionary<string, StreamPosition> { [FileSourceReader.CursorStream("changelog")] = StreamPosition.ForLine(5) };
        await using var reader = new FileSourceReader("changelog", options, Request(_ => true, checkpoint));

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var e = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadBatchAsync(10, TimeSpan.Zero, timeout.Token));

        Assert.Contains($"changelog file {path} has 2 lines", e.Message, StringComparison.Ordinal);
        Assert.Contains("materializer 'm' stored line 5 as its checkpoint", e.Message, StringComparison.Ordinal);
        Assert.Contains("sync backfill --config CONFIG --materializer m'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_followed_file_truncated_or_replaced_by_a_shorter_one_is_refused(bool replace)
    {
        var path = Write("""{"topic":"a","value":{"n":1}}""", """{"topic":"a","value":{"n":2}}""", """{"topic":"a","value":{"n":3}}""");
        var options = new FileSourceOptions { Path = path, Follow = true, PollInterval = TimeSpan.FromMilliseconds(10) };
        await using var reader = new FileSourceReader("changelog", options, Request(_ => true));
        Assert.Equal(3, (await reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None))!.Count);

        var next = reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None).AsTask();
        const string Shorter = "{\"topic\":\"a\",\"value\":{\"n\":9}}\n";
        if (replace)
        {
            // As git checkout does: a new file renamed over the old one.
            var fresh = path + ".new";
            await File.WriteAllTextAsync(fresh, Shorter);
            File.Move(fresh, path, overwrite: true);
        }
        else
        {
            await File.WriteAllTextAsync(path, Shorter);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var e = await Assert.ThrowsAsync<SourceException>(async () => await next.WaitAsync(timeout.Token));
        Assert.Contains($"changelog file {path} became shorter while followed", e.Message, StringComparison.Ordinal);
        Assert.Contains("up to line 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_file_is_a_source_error_naming_the_path()
    {
        await using var reader = Open(Path.Combine(Dir, "nope.jsonl"), _ => true);
        var e = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadBatchAsync(1, TimeSpan.Zero, CancellationToken.None));
        Assert.Contains("nope.jsonl does not exist", e.Message, StringComparison.Ordinal);
    }

    private string Write(params string[] lines)
    {
        var path = Path.Combine(Dir, "changelog.jsonl");
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    private static SourceReadRequest Request(Func<string, bool> filter, IReadOnlyDictionary<string, StreamPosition>? checkpoint = null, bool fromBeginning = false) =>
        new("m", filter, checkpoint ?? new Dictionary<string, StreamPosition>(), fromBeginning);

    private static FileSourceReader Open(string path, Func<string, bool> filter, IReadOnlyDictionary<string, StreamPosition>? checkpoint = null, bool fromBeginning = false) =>
        new("changelog", new FileSourceOptions { Path = path }, Request(filter, checkpoint, fromBeginning));

    private static async Task<List<SourceRecord>> ReadAll(string path, Func<string, bool>? filter = null, IReadOnlyDictionary<string, StreamPosition>? checkpoint = null, bool fromBeginning = false)
    {
        await using var reader = Open(path, filter ?? (t => t == Users), checkpoint, fromBeginning);
        var all = new List<SourceRecord>();
        while (await reader.ReadBatchAsync(1000, TimeSpan.Zero, CancellationToken.None) is { } batch)
        {
            all.AddRange(batch);
        }

        return all;
    }
}
