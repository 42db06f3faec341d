namespace Sync.Engine.Tests.Sources;

/// <summary><c>repairTombstones: true</c> on a changelog file: its end is the end of the file as it
/// is when the reader looks, and its compacted view is the latest line of each key with keys whose
/// latest line is a tombstone left out, as Pulsar's compaction does (apache/pulsar TwoPhaseCompactor:
/// the latest message per key is kept; an empty payload removes the key).</summary>
public sealed class FileTombstoneRepairTests() : TempDirectoryTest("sync-file-repair-")
{
    private const string Users = "persistent://public/default/db1.public.users";

    private string PathOf => Path.Combine(Dir, "changelog.jsonl");

    private static string Line(int id, string op, string? name, long lsn) =>
        Runtime.TestRunners.ChangelogLine(
            Users,
            id,
            op,
            before: op is "u" or "d" ? $"{{\"id\":{id},\"name\":\"old\"}}" : "null",
            after: op == "d" ? "null" : $"{{\"id\":{id},\"name\":\"{name}\"}}",
            lsn);

    [Fact]
    public async Task A_following_reader_is_at_the_end_only_while_no_line_of_the_file_is_left_unread()
    {
        await File.WriteAllLinesAsync(PathOf, [Line(1, "c", "ann", 1), Line(1, "d", null, 2)]);
        await using var reader = new FileSourceReader("changelog", new FileSourceOptions { Path = PathOf, Follow = true, PollInterval = TimeSpan.FromMilliseconds(5) }, new SourceReadRequest("m", t => t == Users, new Dictionary<string, StreamPosition>(), false));

        var first = await reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None);
        var atEndAfterReading = await reader.IsAtEndAsync(Users, StreamPosition.ForLine(2), CancellationToken.None);
        await File.AppendAllLinesAsync(PathOf, [Line(1, "c", "ann again", 3)]);
        var atEndAfterAnAppend = await reader.IsAtEndAsync(Users, StreamPosition.ForLine(2), CancellationToken.None);
        var second = await reader.ReadBatchAsync(10, TimeSpan.Zero, CancellationToken.None);
        var atEndAfterReadingAgain = await reader.IsAtEndAsync(Users, StreamPosition.ForLine(3), CancellationToken.None);

        Assert.Equal(2, first!.Count);
        Assert.True(atEndAfterReading);
        Assert.False(atEndAfterAnAppend);
        Assert.Single(second!);
        Assert.True(atEndAfterReadingAgain);
    }

    [Fact]
    public async Task A_run_over_history_leaves_a_re_created_key_live_in_the_compacted_view_and_removes_every_truly_deleted_key()
    {
        const int keys = 60;
        var lines = new List<string> { Line(1, "c", "ann", 1), Line(1, "d", null, 2) };
        long lsn = 2;
        lines.AddRange(Enumerable.Range(2, keys - 1).Select(id => Line(id, "c", $"user {id}", ++lsn)));
        lines.Add(Line(1, "c", "ann again", ++lsn));
        lines.AddRange(Enumerable.Range(1, keys / 10).Select(i => Line(i * 10, "d", null, ++lsn)));
        await File.WriteAllLinesAsync(PathOf, lines);
        var options = new FileSourceOptions { Path = PathOf };
        await using var log = new FileTopicLog(options);
        var repair = new TombstoneRepair(log);
        var sink = new ReferenceSink();
        var runner = Runtime.TestRunners.FromChangelogFile("users", Users, options, sink, Dir, batchSize: 4, tombstoneRepair: repair);

        await runner.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(keys / 10, runner.Counters.TombstonesRepaired);
        Assert.Equal(1, runner.Counters.RepairsSuperseded);
        var compacted = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var message in log.ReadCompactedAsync(t => t == Users, CancellationToken.None))
        {
            compacted[Encoding.UTF8.GetString(message.Key.GetBytes())] = Encoding.UTF8.GetString(message.Value.Span);
        }

        Assert.Equal(keys - (keys / 10), compacted.Count);
        Assert.Contains("\"after\":{\"id\":1,\"name\":\"ann again\"}", compacted["{\"id\":1}"], StringComparison.Ordinal);
        Assert.All(Enumerable.Range(1, keys / 10), i => Assert.DoesNotContain($"{{\"id\":{i * 10}}}", compacted.Keys));
        Assert.Equal(keys - (keys / 10), sink.Rows("users").Count);
    }
}
