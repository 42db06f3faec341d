using Sync.Sources.Pulsar;
using Sync.Pulsar;
using P = Sync.Sources.Pulsar.PulsarDeadLetterTopic.Properties;

namespace Sync.Cli.Tests;

public sealed class DlqCommandTests : PulsarCliFixture
{
    private const string FileTopic = "persistent://public/default/db1.public.users";

    [Fact]
    public async Task After_a_fix_replay_applies_the_dead_letters_of_a_topic_and_one_that_fails_again_goes_back_with_its_new_reason()
    {
        // Plain JSON rows read as Debezium envelopes: every message fails to decode, until the format is fixed.
        var topic = NewTopic("dlq-replay");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        foreach (var (key, value) in new[] { ("{\"id\":1}", "{\"id\":1,\"name\":\"a\"}"), ("{\"id\":2}", "{\"id\":2,\"name\":\"b\"}"), ("{\"id\":3}", "[3]") })
        {
            await producer.SendAsync(new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(value) });
        }

        var config = WriteConfig(Materializer(topic, "debezium-json"));
        var dlq = topic + PulsarDeadLetterTopic.Suffix;
        var run = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users") && Broker.FindTopic(dlq)?.Entries.Count == 3, "run", "--config", config);
        Assert.True(run.ExitCode == 3, run.ToString());
        var checkpoint = SqliteTables.Rows(Database, "_sync_checkpoints");

        var listed = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith("users: 3 dead letters (topic <topic>-sync-dlq on source broker)", listed.Output, StringComparison.Ordinal);
        Assert.Matches(@"\s+2\s+decode\s+", listed.Output);

        WriteConfig(Materializer(topic, "json"));
        var dryRun = await Workspace.Sync("dlq", "replay", "--config", config, "--materializer", "users", "--dry-run");
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Matches(@"would replay\s+2\s+\(would be applied 2,", dryRun.Output);
        Assert.Matches(@"would fail again\s+1", dryRun.Output);
        Assert.Equal(3, Broker.FindTopic(dlq)!.Entries.Count);
        Assert.False(AllAcknowledged(dlq, PulsarDeadLetterTopic.ReplaySubscription("users")));

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "--materializer", "users");

        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Matches(@"replayed\s+2\s+\(applied 2, deleted 0, stale 0, suppressed 0\)", replay.Output);
        Assert.Matches(@"failed again\s+1", replay.Output);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(Database, "users"));
        Assert.Equal(checkpoint, SqliteTables.Rows(Database, "_sync_checkpoints"));
        var letters = await ReadAllAsync(dlq);
        Assert.Equal(4, letters.Count);
        var again = letters[^1];
        Assert.Equal("[3]", Encoding.UTF8.GetString(again.Data.Span));
        Assert.Equal("{\"id\":3}", again.Key);
        Assert.Equal(letters[2].Properties.Single(p => p.Key == P.OriginMessageId), again.Properties.Single(p => p.Key == P.OriginMessageId));
        Assert.NotEqual(letters[2].Properties.Single(p => p.Key == P.Reason), again.Properties.Single(p => p.Key == P.Reason));
        Assert.Contains(again.Properties.Single(p => p.Key == P.Reason).Value, replay.Output, StringComparison.Ordinal);
        Assert.Equal(3UL, Broker.FindTopic(dlq)!.FindSubscription(PulsarDeadLetterTopic.ReplaySubscription("users"))!.AckedBefore);

        var after = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.StartsWith("users: 1 dead letter ", after.Output, StringComparison.Ordinal);
        var status = await Workspace.Sync("status", "--config", config, "--json");
        Assert.Contains("\"deadLetters\": 1", status.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_of_a_dead_letter_file_keeps_only_the_letters_that_fail_again()
    {
        var config = await DeadLetterEveryLineAsync([UserLine(1, "a"), """{"topic": "broken""", UserLine(2, "b")]);
        var deadLetters = Workspace.File("users.deadletter.jsonl");
        Assert.Equal(3, File.ReadAllLines(deadLetters).Length);

        FileConfig("json");
        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Matches(@"replayed\s+2\s+\(applied 2,", replay.Output);
        Assert.Matches(@"\s+1\s+read\s+", replay.Output);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(Database, "users"));
        var left = Assert.Single(File.ReadAllLines(deadLetters));
        Assert.Contains("\"stage\":\"read\"", left, StringComparison.Ordinal);
        Assert.Equal("""{"topic": "broken""", System.Text.Json.JsonDocument.Parse(left).RootElement.GetProperty("raw").GetString());
        Assert.False(File.Exists(deadLetters + ".replaying"));
        Assert.False(File.Exists(deadLetters + ".replaying.done"));
    }

    [Fact]
    public async Task A_letter_whose_value_is_not_utf8_is_listed_and_fails_again_in_a_replay_while_the_others_apply()
    {
        var invalid = Encoding.UTF8.GetBytes(UserLine(3, "x__y"));
        var at = Array.IndexOf(invalid, (byte)'_');
        (invalid[at], invalid[at + 1]) = (0xC3, 0x28);
        File.WriteAllBytes(Workspace.Write("data/users.jsonl", string.Empty), [
            .. Encoding.UTF8.GetBytes(UserLine(1, "a") + "\n"),
            .. invalid, (byte)'\n',
            .. Encoding.UTF8.GetBytes(UserLine(2, "b") + "\n")]);
        var config = FileConfig("debezium-json");
        Assert.Equal(3, (await Workspace.Sync("run", "--config", config)).ExitCode);
        var deadLetters = Workspace.File("users.deadletter.jsonl");
        // Every line is text; the bytes that are not are kept whole, as base64.
        var letter = System.Text.Json.JsonDocument.Parse(new UTF8Encoding(false, true).GetString(File.ReadAllBytes(deadLetters)).Split('\n')[1]).RootElement.GetProperty("message");
        Assert.True(letter.GetProperty("valueBase64").GetBoolean());
        Assert.Equal(invalid[(Array.IndexOf(invalid, (byte)'v') + 7)..^1], letter.GetProperty("value").GetBytesFromBase64());

        var listed = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith("users: 3 dead letters ", listed.Output, StringComparison.Ordinal);
        Assert.Matches(@"\s+1\s+decode\s+value: not valid UTF-8", listed.Output);

        FileConfig("json");
        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Matches(@"replayed\s+2\s+\(applied 2,", replay.Output);
        Assert.Matches(@"\s+1\s+decode\s+value: not valid UTF-8", replay.Output);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(Database, "users"));
        Assert.Single(File.ReadAllLines(deadLetters));
    }

    [Fact]
    public async Task Letters_holding_bytes_that_are_not_utf8_never_stop_listing_or_replay_of_the_others()
    {
        // As an earlier writer left them: a message with the invalid bytes as they came, and a line that is no letter at all.
        var old = Encoding.UTF8.GetBytes(Letter("0:2:-1", "value: not valid UTF-8", UserLine(3, "x__y")));
        var at = Array.IndexOf(old, (byte)'_');
        (old[at], old[at + 1]) = (0xC3, 0x28);
        Workspace.Write("data/users.jsonl", string.Empty);
        var config = FileConfig("json");
        File.WriteAllBytes(Workspace.File("users.deadletter.jsonl"), [
            .. Encoding.UTF8.GetBytes(Letter("0:1:-1", "r", UserLine(1, "a")) + "\n"),
            .. old, (byte)'\n',
            .. "{\"reason\":\""u8, 0xFF, 0xFE, .. "\"}\n"u8,
            .. Encoding.UTF8.GetBytes(Letter("0:3:-1", "r", UserLine(2, "b")) + "\n")]);

        var listed = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith("users: 4 dead letters ", listed.Output, StringComparison.Ordinal);

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Matches(@"replayed\s+2\s+\(applied 2,", replay.Output);
        Assert.Matches(@"\s+1\s+decode\s+value: not valid UTF-8", replay.Output);
        Assert.Contains("not a readable dead letter", replay.Output, StringComparison.Ordinal);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(Database, "users"));
        var left = File.ReadAllLines(Workspace.File("users.deadletter.jsonl"));
        Assert.Equal(2, left.Length);
        Assert.Contains(left, l => l.Contains("\"location\":\"users.deadletter.jsonl.replaying:3\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_replay_keeps_a_subject_erased_after_its_message_was_dead_lettered_suppressed()
    {
        var config = await DeadLetterEveryLineAsync([UserLine(1, "a"), UserLine(2, "b")], withSubjects: true);
        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "1");
        Assert.True(erase.ExitCode is 0 or 3, erase.ToString());
        FileConfig("json", withSubjects: true);

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Matches(@"replayed\s+2\s+\(applied 1, deleted 0, stale 0, suppressed 1\)", replay.Output);
        Assert.Equal(["id=2|name=b"], SqliteTables.Rows(Database, "users"));
    }

    [Fact]
    public async Task An_interrupted_file_replay_resumes_after_the_letters_it_had_done()
    {
        var config = await DeadLetterEveryLineAsync([UserLine(1, "a"), UserLine(2, "b")]);
        var deadLetters = Workspace.File("users.deadletter.jsonl");
        // As a replay leaves them when it stops after its first letter was applied.
        File.Move(deadLetters, deadLetters + ".replaying");
        File.WriteAllText(deadLetters + ".replaying.done", "1");
        FileConfig("json");

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Matches(@"letters read\s+1\n", replay.Output);
        Assert.Equal(["id=2|name=b"], SqliteTables.Rows(Database, "users"));
        Assert.False(File.Exists(deadLetters + ".replaying"));
        Assert.False(File.Exists(deadLetters));
    }

    [Fact]
    public async Task Listing_a_materializer_without_dead_letters_creates_no_dead_letter_topic()
    {
        var topic = NewTopic("dlq-none");
        var config = WriteConfig(Materializer(topic, "json"));

        var listed = await Workspace.Sync("dlq", "list", "--config", config);

        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith("users: 0 dead letters (topic <topic>-sync-dlq on source broker)", listed.Output, StringComparison.Ordinal);
        Assert.Null(Broker.FindTopic(topic + PulsarDeadLetterTopic.Suffix));
    }

    [Fact]
    public async Task Replay_without_a_materializer_is_a_usage_error()
    {
        var result = await Workspace.Sync("dlq", "replay", "--config", Workspace.Quickstart);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--materializer", result.Error, StringComparison.Ordinal);
    }

    private static string Materializer(string topic, string format) => $"""
          users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, format: {format} {"}"}
        """;

    /// <summary>Writes <paramref name="lines"/> as the changelog and runs it with the format
    /// <c>debezium-json</c>, which none of them is: every line becomes a dead letter and the run exits 3.
    /// Returns the config's path.</summary>
    private async Task<string> DeadLetterEveryLineAsync(string[] lines, bool withSubjects = false)
    {
        Workspace.Write("data/users.jsonl", string.Join('\n', lines) + "\n");
        var config = FileConfig("debezium-json", withSubjects);
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 3, run.ToString());
        return config;
    }

    /// <summary>A line of the changelog file: a change of user <paramref name="id"/> on <see cref="FileTopic"/>.</summary>
    private static string UserLine(int id, string name) => $$$"""{"topic":"{{{FileTopic}}}","key":{"id":{{{id}}}},"value":{"id":{{{id}}},"name":"{{{name}}}"}}""";

    /// <summary>A dead letter of <c>users</c> refused at decode, in the shape of a line of the dead-letter file.</summary>
    private static string Letter(string position, string reason, string message) =>
        $$$"""{"materializer":"users","stage":"decode","topic":"{{{FileTopic}}}","position":"{{{position}}}","reason":"{{{reason}}}","message":{{{message}}}}""";

    private string FileConfig(string format, bool withSubjects = false) => Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", $"""
        materializers:
          users: {"{"} source: changelog, topics: ['{FileTopic}'], sink: local, table: users, format: {format} {"}"}
        """ + (withSubjects ? "\n" + """
        subjects:
          user: { users: { key: id } }
        erasure: { secret: test-only-erasure-secret-of-some-length, ledger: ledger.db }
        """ : string.Empty));
}
