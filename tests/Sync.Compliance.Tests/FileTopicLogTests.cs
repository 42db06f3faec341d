using System.Text;
using Sync.Sources.File;

namespace Sync.Compliance.Tests;

public sealed class FileTopicLogTests() : TempDirectoryTest("sync-topic-log-")
{
    [Fact]
    public async Task The_compacted_view_keeps_the_latest_message_per_key_and_drops_tombstoned_and_keyless_ones()
    {
        var log = Log(
            """{"topic":"t","key":"a","value":{"v":1}}""",
            """{"topic":"t","key":"b","value":{"v":1}}""",
            """{"topic":"t","value":{"v":"keyless"}}""",
            """{"topic":"t","key":"a","value":{"v":2}}""",
            """{"topic":"t","key":"b","value":null}""",
            """{"topic":"u","key":"a","value":{"v":9}}""");

        var compacted = await ToListAsync(log.ReadCompactedAsync(t => t == "t", CancellationToken.None));

        var only = Assert.Single(compacted);
        Assert.Equal("a", only.Key.Text);
        Assert.Equal("{\"v\":2}", Encoding.UTF8.GetString(only.Value.Span));
    }

    [Fact]
    public async Task A_tombstone_is_appended_with_the_exact_key_and_compaction_blanks_the_earlier_lines_in_place()
    {
        var path = Path.Combine(Dir, "log.jsonl");
        string[] lines =
        [
            """{"topic":"t","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"name":"Ada"}}""",
            """{"topic":"t","key":"eyJpZCI6Mn0=","keyBase64":true,"value":{"name":"Bob"}}""",
            """{"topic":"t","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"name":"Ada L."}}""",
        ];
        await File.WriteAllTextAsync(path, string.Join('\n', lines) + "\n");
        var log = new FileTopicLog(new FileSourceOptions { Path = path });
        var key = new MessageKey("eyJpZCI6MX0=", true);
        var before = new FileInfo(path).Length;

        var position = await log.PublishTombstoneAsync("t", key, CancellationToken.None);
        var outcome = await log.CompactAsync("t", [key], CancellationToken.None);

        Assert.Equal(StreamPosition.ForLine(4), position);
        Assert.Equal(new Sync.Engine.Topics.CompactionOutcome("SUCCESS", 2), outcome);
        var after = await File.ReadAllLinesAsync(path);
        Assert.Equal(4, after.Length);
        Assert.True(string.IsNullOrWhiteSpace(after[0]));
        Assert.Equal(lines[0].Length, after[0].Length);
        Assert.Equal(lines[1], after[1]);
        Assert.True(string.IsNullOrWhiteSpace(after[2]));
        Assert.StartsWith("""{"topic":"t","key":"eyJpZCI6MX0=","keyBase64":true,"value":null,""", after[3], StringComparison.Ordinal);
        Assert.DoesNotContain("Ada", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
        Assert.Equal(before + after[3].Length + 1, new FileInfo(path).Length);
    }

    [Fact]
    public async Task A_keyed_message_is_appended_with_the_exact_key_value_properties_and_event_time()
    {
        var path = Path.Combine(Dir, "log.jsonl");
        await File.WriteAllTextAsync(path, """{"topic":"t","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"name":"Ada"}}""" + "\n");
        var log = new FileTopicLog(new FileSourceOptions { Path = path });
        var key = new MessageKey("eyJpZCI6MX0=", true);
        var eventTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        var properties = new Dictionary<string, string> { ["origin"] = "copy" };

        var position = await log.PublishAsync("t", key, Encoding.UTF8.GetBytes("""{"name":"Ada L."}"""), properties, eventTime, CancellationToken.None);

        Assert.Equal(StreamPosition.ForLine(2), position);
        var raw = await ToListAsync(log.ScanRawAsync(t => t == "t", CancellationToken.None));
        var copy = raw[^1];
        Assert.Equal(2, raw.Count);
        Assert.Equal(key, copy.Key);
        Assert.True(copy.HasValue);
        Assert.Equal("""{"name":"Ada L."}""", Encoding.UTF8.GetString(copy.Value.Span));
        Assert.Equal("copy", copy.Properties["origin"]);
        Assert.Equal(eventTime, copy.EventTime);
    }

    [Fact]
    public async Task A_tombstone_after_a_last_line_without_newline_starts_a_line_of_its_own()
    {
        var path = Path.Combine(Dir, "log.jsonl");
        await File.WriteAllTextAsync(path, """{"topic":"t","key":"a","value":{}}""");
        var log = new FileTopicLog(new FileSourceOptions { Path = path });

        await log.PublishTombstoneAsync("t", new MessageKey("a", false), CancellationToken.None);

        var lines = await File.ReadAllLinesAsync(path);
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"value\":null", lines[1], StringComparison.Ordinal);
    }

    private FileTopicLog Log(params string[] lines)
    {
        var path = Path.Combine(Dir, "log.jsonl");
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return new FileTopicLog(new FileSourceOptions { Path = path });
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}
