namespace Sync.Engine.Tests.Runtime;

/// <summary>A run over changes whose unchanged TOASTed columns carry Debezium's placeholder
/// (postgresql.adoc, "Toasted values"): stored values stay, and the changes that had none to keep are counted.</summary>
public sealed class UnavailableRunTests() : TempDirectoryTest("sync-unavailable-")
{
    private const string Articles = "persistent://public/default/db1.public.articles";
    private const string P = "__debezium_unavailable_value";

    private static string Line(int id, string op, string? title, string? body, long lsn)
    {
        var after = op == "d" ? "null" : $"{{\"id\":{id},\"title\":\"{title}\",\"body\":\"{body}\"}}";
        var before = op == "d" ? $"{{\"id\":{id},\"title\":null,\"body\":null}}" : "null";
        var value = string.Create(CultureInfo.InvariantCulture, $"{{\"before\":{before},\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"articles\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        return Encoding.UTF8.GetString(ChangelogLineWriter.ToLine(new SourceMessage
        {
            Topic = Articles,
            Position = StreamPosition.Start,
            Key = MessageKey.FromBytesAsBase64(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}")),
            Value = Encoding.UTF8.GetBytes(value),
        }));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public async Task Stored_values_stay_and_changes_without_a_value_to_keep_are_counted(int batchSize)
    {
        var path = Path.Combine(Dir, "changelog.jsonl");
        await File.WriteAllLinesAsync(path, [
            Line(1, "c", "one", "long body", 1),
            Line(1, "u", "one, retitled", P, 2),
            Line(2, "u", "two", P, 3),
            Line(3, "c", "three", "body 3", 4),
            Line(3, "d", null, null, 5),
            Line(3, "u", "three again", P, 6),
        ]);
        var sink = new ReferenceSink();
        var options = new FileSourceOptions { Path = path };
        var runner = new MaterializerRunner(
            "articles",
            new MaterializerOptions { Source = "changelog", Sink = "k", Table = "articles", Topics = [Articles], Format = "debezium-json", BatchSize = batchSize, Linger = TimeSpan.Zero },
            new FileSourceReader("changelog", options, new SourceReadRequest("articles", t => t == Articles, new Dictionary<string, StreamPosition>(), false)),
            MessageFormats.Create("debezium-json", new DecoderOptions()),
            sink,
            new DeadLetterWriter(Path.Combine(Dir, "articles.deadletter.jsonl"), "articles"),
            NullLogger.Instance);

        await runner.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        var rows = sink.Rows("articles");
        Assert.Equal("""{"id":1,"title":"one, retitled","body":"long body"}""", rows["""{"id":1}"""]);
        Assert.Equal("""{"id":2,"title":"two","body":null}""", rows["""{"id":2}"""]);
        Assert.Equal("""{"id":3,"title":"three again","body":null}""", rows["""{"id":3}"""]);
        Assert.Equal(2, runner.Counters.Unavailable);
        Assert.Equal(0, runner.Counters.DeadLettered);
    }
}
