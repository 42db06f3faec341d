namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --from</c> on a changelog file into SQLite: a position is a line
/// (<c>0:LINE:-1</c>, as <c>sync status</c> prints it) of one topic, and the line at it is read.</summary>
public sealed class BackfillFromTests : WorkspaceTests
{
    private const string Users = "persistent://public/default/shop.public.users";
    private const string Admins = "persistent://public/default/shop.public.admins";

    [Fact]
    public async Task A_backfill_from_a_line_applies_that_line_and_the_later_ones_and_none_before()
    {
        var config = Config(Changelog((Users, 1), (Users, 2), (Users, 3), (Users, 4), (Users, 5)), Users);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:3:-1", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([3, 4, 5], Ids());
    }

    [Fact]
    public async Task Progress_counts_only_the_events_from_the_position()
    {
        var config = Config(Changelog((Users, 1), (Users, 2), (Users, 3), (Users, 4), (Users, 5)), Users);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:3:-1");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Contains("backfill users: done, 3 events in", backfill.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(" of 5 events", backfill.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_several_topics_a_named_topic_starts_at_its_position_and_the_others_at_the_earliest()
    {
        var config = Config(Changelog((Users, 1), (Admins, 101), (Users, 2), (Admins, 102), (Users, 3), (Admins, 103)), Users, Admins);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", $"{Users}=0:3:-1", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([2, 3, 101, 102, 103], Ids());
    }

    [Fact]
    public async Task Each_topic_named_starts_at_its_own_position_and_short_topic_names_are_completed()
    {
        var config = Config(Changelog((Users, 1), (Admins, 101), (Users, 2), (Admins, 102), (Users, 3), (Admins, 103)), Users, Admins);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "shop.public.users=0:5:-1", "--from", $"{Admins}=0:4:-1", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([3, 102, 103], Ids());
    }

    [Fact]
    public async Task Then_run_goes_on_from_the_end_of_the_backfill_not_from_the_start()
    {
        var config = Config(Changelog((Users, 1), (Users, 2), (Users, 3), (Users, 4)), Users);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:4:-1", "--then-run", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([4], Ids());
    }

    [Theory]
    [InlineData("zero:3", "--from (zero:3) must be earliest, a position ledger:entry:batch")]
    [InlineData("nope=0:1:-1", "--from (nope=0:1:-1) names topic nope, which materializer users does not read (its topics: " + Users + ", " + Admins + ")")]
    [InlineData("0:2:-1", "--from (0:2:-1) is a position without a topic, but materializer users does not read exactly one topic (its topics: " + Users + ", " + Admins + ")")]
    [InlineData(Users + "=0:x:-1", "--from (" + Users + "=0:x:-1) must be earliest")]
    public async Task A_from_value_that_does_not_fit_exits_2_naming_the_value_and_applies_nothing(string from, string message)
    {
        var config = Config(Changelog((Users, 1), (Admins, 101)), Users, Admins);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", from, "--no-progress");

        Assert.Equal(2, backfill.ExitCode);
        Assert.Contains(message, backfill.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Workspace.File("users.db")) && Ids().Count > 0);
    }

    [Fact]
    public async Task A_shadow_cannot_start_at_a_position_because_it_would_lack_the_earlier_rows()
    {
        var config = Config(Changelog((Users, 1), (Users, 2)), Users);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:2:-1", "--shadow", "--no-progress");

        Assert.Equal(2, backfill.ExitCode);
        Assert.Contains("--from (0:2:-1) cannot be combined with --shadow", backfill.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Workspace.File("users.db")));
    }

    [Fact]
    public async Task A_shadow_from_earliest_is_the_ordinary_shadow_backfill()
    {
        var config = Config(Changelog((Users, 1), (Users, 2)), Users);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "earliest", "--shadow", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([1, 2], Ids());
    }

    private List<long> Ids() =>
        [.. SqliteTables.Rows(Workspace.File("users.db"), "users").Select(r => long.Parse(r.Split('|')[0]["id=".Length..], System.Globalization.CultureInfo.InvariantCulture)).Order()];

    private string Config(string changelog, params string[] topics)
    {
        Workspace.Write("changelog.jsonl", changelog);
        return Workspace.WriteFileToSqliteConfig("changelog.jsonl", "users.db", $"""
            materializers:
              users:
                source: changelog
                topics: [{string.Join(", ", topics)}]
                sink: local
                table: users
                batchSize: 2
            """);
    }

    /// <summary>One insert per line, in the order given: line i holds the i-th change.</summary>
    private static string Changelog(params (string Topic, int Id)[] changes)
    {
        var text = new StringBuilder();
        var lsn = 0;
        foreach (var (topic, id) in changes)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $$$$"""{"topic":"{{{{topic}}}}","key":{"id":{{{{id}}}}},"value":{"op":"c","after":{"id":{{{{id}}}},"name":"user {{{{id}}}}"},"source":{"lsn":{{{{++lsn}}}}}}}""").Append('\n');
        }

        return text.ToString();
    }
}
