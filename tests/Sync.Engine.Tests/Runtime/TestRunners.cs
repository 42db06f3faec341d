namespace Sync.Engine.Tests.Runtime;

/// <summary>Materializer runners wired as <c>sync run</c> wires one, for the tests that drive a runner
/// by hand (over a changelog file of Debezium events, or over a reader the test scripts), and the lines
/// of such a file.</summary>
internal static class TestRunners
{
    /// <summary>A materializer named after its table, reading the one topic of a changelog file
    /// (<c>source: changelog</c>, debezium-json) from its start, its dead letters in a file in
    /// <paramref name="deadLetterDirectory"/>.</summary>
    public static MaterializerRunner FromChangelogFile(
        string table,
        string topic,
        FileSourceOptions file,
        ISink sink,
        string deadLetterDirectory,
        int batchSize,
        ISuppressionFilter? suppression = null,
        TombstoneRepair? tombstoneRepair = null,
        TimeProvider? time = null) =>
        new(
            table,
            new MaterializerOptions { Source = "changelog", Sink = "k", Table = table, Topics = [topic], Format = "debezium-json", BatchSize = batchSize, Linger = TimeSpan.Zero, RepairTombstones = tombstoneRepair is not null },
            new FileSourceReader("changelog", file, new SourceReadRequest(table, t => t == topic, new Dictionary<string, StreamPosition>(), false)),
            MessageFormats.Create("debezium-json", new DecoderOptions()),
            sink,
            new DeadLetterWriter(Path.Combine(deadLetterDirectory, $"{table}.deadletter.jsonl"), table),
            NullLogger.Instance,
            suppression,
            tombstoneRepair)
        {
            Time = time ?? TimeProvider.System,
        };

    /// <summary>The materializer <c>users</c> of the one <paramref name="topic"/>, reading what
    /// <paramref name="reader"/> delivers, without a linger and without dead letters.</summary>
    public static MaterializerRunner OverReader(
        ISourceReader reader,
        ISink sink,
        string topic,
        string format,
        int batchSize,
        int readAhead = 1,
        TombstoneRepair? tombstoneRepair = null) =>
        new(
            "users",
            new MaterializerOptions { Source = "s", Sink = "k", Table = "users", Topics = [topic], Format = format, BatchSize = batchSize, Linger = TimeSpan.Zero, ReadAhead = readAhead, RepairTombstones = tombstoneRepair is not null },
            reader,
            MessageFormats.Create(format, new DecoderOptions()),
            sink,
            new NoDeadLetters(),
            NullLogger.Instance,
            tombstoneRepair: tombstoneRepair);

    /// <summary>One line of a changelog file as <c>sync dump</c> writes it (<see cref="ChangelogLineWriter"/>):
    /// a Debezium PostgreSQL event of the row <c>id</c> of the topic's table in <c>shop.public</c>, keyed
    /// as Pulsar IO keys it (base64 of the JSON key bytes), its LSN also giving its <c>ts_ms</c>.</summary>
    public static string ChangelogLine(string topic, int id, string op, string before, string after, long lsn)
    {
        var table = topic[(topic.LastIndexOf('.') + 1)..];
        var value = string.Create(CultureInfo.InvariantCulture, $"{{\"before\":{before},\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"{table}\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        return Encoding.UTF8.GetString(ChangelogLineWriter.ToLine(new SourceMessage
        {
            Topic = topic,
            Position = StreamPosition.Start,
            Key = MessageKey.FromBytesAsBase64(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}")),
            Value = Encoding.UTF8.GetBytes(value),
        }));
    }
}
