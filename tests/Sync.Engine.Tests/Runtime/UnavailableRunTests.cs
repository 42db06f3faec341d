namespace Sync.Engine.Tests.Runtime;

/// <summary>A run over changes whose unchanged TOASTed columns carry Debezium's placeholder
/// (postgresql.adoc, "Toasted values"): stored values stay, and the changes that had none to keep are counted.</summary>
public sealed class UnavailableRunTests() : TempDirectoryTest("sync-unavailable-")
{
    private const string Articles = "persistent://public/default/db1.public.articles";
    private const string P = "__debezium_unavailable_value";

    private static string Line(int id, string op, string? title, string? body, long lsn) =>
        TestRunners.ChangelogLine(
            Articles,
            id,
            op,
            before: op == "d" ? $"{{\"id\":{id},\"title\":null,\"body\":null}}" : "null",
            after: op == "d" ? "null" : $"{{\"id\":{id},\"title\":\"{title}\",\"body\":\"{body}\"}}",
            lsn);

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
        var runner = TestRunners.FromChangelogFile("articles", Articles, options, sink, Dir, batchSize);

        await runner.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        var rows = sink.Rows("articles");
        Assert.Equal("""{"id":1,"title":"one, retitled","body":"long body"}""", rows["""{"id":1}"""]);
        Assert.Equal("""{"id":2,"title":"two","body":null}""", rows["""{"id":2}"""]);
        Assert.Equal("""{"id":3,"title":"three again","body":null}""", rows["""{"id":3}"""]);
        Assert.Equal(2, runner.Counters.Unavailable);
        Assert.Equal(0, runner.Counters.DeadLettered);
    }
}
