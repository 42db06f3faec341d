namespace Sync.Engine.Tests.Runtime;

/// <summary>A materializer skips and counts Debezium's messages that are not row changes (never a
/// dead letter), can keep logical decoding messages as rows, and obeys its error policy: with
/// <c>tolerance: none</c> or past <c>maxDeadLetters</c> it stops once the batch that wrote the letter
/// is committed and acknowledged. Message shapes: see Formats/NonRowMessageTests.</summary>
public sealed class NonRowAndErrorPolicyTests
{
    private const string Topic = "persistent://public/default/db1.public.users";
    private const string Source = """{"connector":"postgresql","name":"db1","db":"shop","schema":"public","table":"users","txId":748,"lsn":100}""";
    private const string MessageSource = """{"connector":"postgresql","name":"db1","db":"shop","schema":"","table":"","txId":749,"lsn":46523128}""";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly string Heartbeat = """{"ts_ms":1700000000000}""";
    private static readonly string Begin = """{"status":"BEGIN","id":"748:100","event_count":null,"data_collections":null}""";
    private static readonly string End = """{"status":"END","id":"748:120","ts_ms":1,"event_count":1,"data_collections":[{"data_collection":"public.users","event_count":1}]}""";
    private static readonly string Message = $$$"""{"op":"m","ts_ms":1,"source":{{{MessageSource}}},"message":{"prefix":"audit","content":"YmFy"}}""";
    private static readonly string SchemaChange = """{"source":{"server":"db1"},"ts_ms":1,"databaseName":"shop","schemaName":"public","ddl":"ALTER TABLE users ADD x int","tableChanges":[]}""";

    [Fact]
    public async Task Messages_that_are_not_row_changes_are_skipped_and_counted_by_kind_and_never_dead_lettered()
    {
        var sink = new RecordingSink();
        var reader = new ListReader([[Heartbeat, Begin, Row(1), End], [Message, SchemaChange, Heartbeat, Row(2)]]);
        var runner = Runner(reader, sink, new NoDeadLetters());

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["""{"id":1}""", """{"id":2}"""], sink.Applied.Select(c => c.KeyText));
        var c = runner.Counters;
        Assert.Equal((8L, 2L, 6L, 0L), (c.Read, c.Applied, c.Skipped, c.DeadLettered));
        Assert.Equal((2L, 2L, 1L, 1L), (c.SkippedOf(NonRowKind.Heartbeat), c.SkippedOf(NonRowKind.Transaction), c.SkippedOf(NonRowKind.Message), c.SkippedOf(NonRowKind.SchemaChange)));
        Assert.Equal(2, reader.Acknowledged);
    }

    [Fact]
    public async Task With_messages_keep_a_logical_decoding_message_is_a_row_and_a_row_change_is_a_dead_letter()
    {
        var sink = new RecordingSink();
        var letters = new ListDeadLetters();
        var runner = Runner(new ListReader([[Message, Heartbeat, Row(1)]]), sink, letters, messages: MessageHandling.Keep);

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        var kept = Assert.Single(sink.Applied);
        Assert.Equal("""{"lsn":46523128}""", kept.KeyText);
        Assert.Equal(("audit", "bar", true), (kept.After!["prefix"].AsText, Encoding.UTF8.GetString(kept.After["content"].AsBytes), kept.After["transactional"].AsBoolean));
        var letter = Assert.Single(letters.Written);
        Assert.Equal("map", letter.Stage);
        Assert.Contains("messages: keep", letter.Reason, StringComparison.Ordinal);
        Assert.Equal((1L, 1L), (runner.Counters.SkippedOf(NonRowKind.Heartbeat), runner.Counters.DeadLettered));
    }

    [Fact]
    public async Task Tolerance_none_stops_after_the_batch_holding_the_first_dead_letter_is_committed_and_acknowledged()
    {
        var sink = new RecordingSink();
        var letters = new ListDeadLetters();
        var reader = new ListReader([[Row(1), Bad(2), Row(3)], [Row(4)]]);
        var runner = Runner(reader, sink, letters, policy: new ErrorPolicy(ErrorTolerance.None, 0));

        var stop = await Assert.ThrowsAsync<ErrorPolicyException>(() => runner.RunAsync(CancellationToken.None).WaitAsync(Patience));

        // The letter is durable before the checkpoint that passes it; the batch is applied whole, the next never read.
        Assert.Equal(["""{"id":1}""", """{"id":3}"""], sink.Applied.Select(c => c.KeyText));
        Assert.Equal(1, letters.FlushedBeforeApply);
        Assert.Equal((1, 1), (reader.Batches, reader.Acknowledged));
        Assert.Equal("users", stop.Materializer);
        Assert.Contains($"message {Topic} @ 0:2:-1 (decode: op: unknown operation code", stop.Message, StringComparison.Ordinal);
        Assert.Contains("errors.tolerance: none", stop.Message, StringComparison.Ordinal);
        Assert.EndsWith("written to letters.jsonl", stop.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxDeadLetters_stops_only_once_more_than_that_many_letters_were_written_in_the_run()
    {
        var sink = new RecordingSink();
        var reader = new ListReader([[Bad(1), Row(2)], [Row(3), Bad(4), Bad(5)], [Row(6)]]);
        var runner = Runner(reader, sink, new ListDeadLetters(), policy: new ErrorPolicy(ErrorTolerance.All, 1));

        var stop = await Assert.ThrowsAsync<ErrorPolicyException>(() => runner.RunAsync(CancellationToken.None).WaitAsync(Patience));

        Assert.Equal((2, 2), (reader.Batches, reader.Acknowledged));
        Assert.Equal(3, runner.Counters.DeadLettered);
        // The letter past the limit is the second one written.
        Assert.Contains($"the one past the limit: message {Topic} @ 0:4:-1", stop.Message, StringComparison.Ordinal);
        Assert.Contains("3 dead letters in this run, more than errors.maxDeadLetters (1)", stop.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tolerance_all_without_a_limit_runs_to_the_end_whatever_it_dead_letters()
    {
        var reader = new ListReader([[Bad(1)], [Bad(2), Row(3)]]);
        var runner = Runner(reader, new RecordingSink(), new ListDeadLetters());

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal((2, 2L, 1L), (reader.Acknowledged, runner.Counters.DeadLettered, runner.Counters.Applied));
    }

    private static string Row(int id) => $$"""{"before":null,"after":{"id":{{id}},"name":"n{{id}}"},"source":{{Source}},"op":"c","ts_ms":1}""";

    private static string Bad(int id) => $$"""{"before":null,"after":{"id":{{id}}},"source":{{Source}},"op":"x","ts_ms":1}""";

    private static MaterializerRunner Runner(ISourceReader reader, ISink sink, IDeadLetterTarget letters, ErrorPolicy? policy = null, MessageHandling messages = MessageHandling.Skip) =>
        new(
            "users",
            new MaterializerOptions { Source = "s", Sink = "k", Table = "users", Topics = [Topic], BatchSize = 10, Linger = TimeSpan.Zero, ReadAhead = 0, Messages = messages },
            reader,
            new DebeziumJsonDecoder(new DecoderOptions()),
            sink,
            letters,
            NullLogger.Instance)
        {
            ErrorPolicy = policy ?? ErrorPolicy.TolerateAll,
        };

    /// <summary>Batches of message values, each message keyed by its row id (or by its place).</summary>
    private sealed class ListReader(string[][] batches) : ISourceReader
    {
        private int _next;
        private long _entry;

        public int Batches => _next;

        public int Acknowledged { get; private set; }

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            if (_next == batches.Length)
            {
                return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(null);
            }

            var records = batches[_next++].Select(value =>
            {
                var id = ++_entry;
                return new SourceRecord(
                    new SourceMessage
                    {
                        Topic = Topic,
                        Position = new StreamPosition(0, id),
                        Key = new MessageKey(value.Contains("\"op\":\"c\"", StringComparison.Ordinal) || value.Contains("\"op\":\"x\"", StringComparison.Ordinal) ? IdKey(value) : $$"""{"n":{{id}}}""", false),
                        Value = Encoding.UTF8.GetBytes(value),
                    },
                    null);
            }).ToList();
            return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(records);
        }

        private static string IdKey(string value)
        {
            var start = value.IndexOf("\"id\":", StringComparison.Ordinal) + 5;
            var end = value.IndexOfAny([',', '}'], start);
            return $$"""{"id":{{value[start..end]}}}""";
        }

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
        {
            Acknowledged++;
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class RecordingSink : ISink
    {
        public List<ChangeEvent> Applied { get; } = [];

        public string Name => "recording";

        public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, StreamPosition>>(new Dictionary<string, StreamPosition>());

        public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            if (batch.BeforeCommit is { } beforeCommit)
            {
                await beforeCommit([], cancellationToken);
            }

            Applied.AddRange(batch.Changes);
            return new ApplyResult(batch.Changes.Count, 0, 0, []);
        }

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class ListDeadLetters : IDeadLetterTarget
    {
        private readonly List<(string Stage, string Reason)> _pending = [];

        public List<(string Stage, string Reason)> Written { get; } = [];

        /// <summary>Letters made durable by the flush the runner does before it applies a batch.</summary>
        public int FlushedBeforeApply { get; private set; }

        public string Description => "letters.jsonl";

        public void Add(string stage, SourceMessage message, string reason) => _pending.Add((stage, reason));

        public void Add(SourceError error) => _pending.Add(("read", error.Reason));

        public ValueTask FlushAsync(CancellationToken cancellationToken)
        {
            FlushedBeforeApply += _pending.Count;
            Flush();
            return ValueTask.CompletedTask;
        }

        public void Flush()
        {
            Written.AddRange(_pending);
            _pending.Clear();
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
