using Sync.Sources.Pulsar;

namespace Sync.Engine.Tests.Runtime;

public class BackfillStartTests
{
    private const string Users = "persistent://public/default/db1.public.users";
    private const string Admins = "persistent://public/default/db1.public.admins";

    private static readonly MaterializerOptions OneTopic = new() { Topics = [Users] };
    private static readonly MaterializerOptions TwoTopics = new() { Topics = [Users, Admins] };

    [Fact]
    public void No_value_and_earliest_start_every_topic_at_the_earliest_message()
    {
        Assert.True(BackfillStart.Parse([]).IsEarliest);
        Assert.True(BackfillStart.Parse(["earliest"]).IsEarliest);
        Assert.Empty(BackfillStart.Parse(["earliest"]).Resolve("users", TwoTopics, PulsarTopicNaming.Instance));
    }

    [Fact]
    public void A_bare_position_belongs_to_the_only_topic()
    {
        var start = BackfillStart.Parse(["7:12:-1"]);

        Assert.False(start.IsEarliest);
        Assert.Equal(new Dictionary<string, StreamPosition> { [Users] = new(7, 12, -1) }, start.Resolve("users", OneTopic, PulsarTopicNaming.Instance));
    }

    [Fact]
    public void Named_topics_resolve_to_the_configured_names_and_partitions_keep_their_own_name()
    {
        var start = BackfillStart.Parse(["db1.public.users=7:12:-1", $"{Admins}-partition-1=3:4:0", $"{Admins}=earliest"]);

        Assert.Equal(
            new Dictionary<string, StreamPosition> { [Users] = new(7, 12, -1), [$"{Admins}-partition-1"] = new(3, 4, 0) },
            start.Resolve("users", TwoTopics, PulsarTopicNaming.Instance));
    }

    [Fact]
    public void A_pattern_accepts_the_topics_it_matches()
    {
        var options = new MaterializerOptions { TopicPattern = @"persistent://public/default/db1\.public\..*" };

        Assert.Equal([Users], BackfillStart.Parse([$"{Users}=1:2:-1"]).Resolve("users", options, PulsarTopicNaming.Instance).Keys);
        Assert.Throws<BackfillStartException>(() => BackfillStart.Parse(["1:2:-1"]).Resolve("users", options, PulsarTopicNaming.Instance));
    }

    [Theory]
    [InlineData(new[] { "1:2" }, "--from (1:2) must be earliest, a position ledger:entry:batch")]
    [InlineData(new[] { "=1:2:-1" }, "--from (=1:2:-1) has no topic before '='")]
    [InlineData(new[] { "earliest", Users + "=1:2:-1" }, "--from (earliest) cannot be combined with other --from values")]
    [InlineData(new[] { "1:2:-1", Admins + "=1:2:-1" }, "--from (1:2:-1) is a position without a topic; with several --from values each must be TOPIC=POSITION")]
    [InlineData(new[] { Users + "=1:2:-1", Users + "=3:4:-1" }, "--from (" + Users + "=3:4:-1) names topic " + Users + " a second time")]
    public void Values_that_do_not_parse_are_refused_naming_the_value(string[] values, string message)
    {
        var e = Assert.Throws<BackfillStartException>(() => BackfillStart.Parse(values));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_topic_the_materializer_does_not_read_is_refused_with_its_topics()
    {
        var e = Assert.Throws<BackfillStartException>(() => BackfillStart.Parse(["orders=1:2:-1"]).Resolve("users", TwoTopics, PulsarTopicNaming.Instance));
        Assert.Equal($"--from (orders=1:2:-1) names topic orders, which materializer users does not read (its topics: {Users}, {Admins})", e.Message);
    }
}
