using Sync.Sources.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

public class PulsarTopicNamingTests
{
    private static readonly PulsarTopicNaming Naming = PulsarTopicNaming.Instance;

    [Theory]
    [InlineData("persistent://public/default/users-partition-3", "persistent://public/default/users")]
    [InlineData("users-partition-0", "users")]
    [InlineData("persistent://public/default/users", "persistent://public/default/users")]
    [InlineData("persistent://public/default/users-partition-x", "persistent://public/default/users-partition-x")]
    [InlineData("persistent://public/default/users-partition-", "persistent://public/default/users-partition-")]
    public void A_partition_belongs_to_its_topic_and_any_other_name_to_itself(string stream, string topic) =>
        Assert.Equal(topic, Naming.TopicOf(stream));

    [Fact]
    public void A_name_that_is_only_the_partition_suffix_is_no_partition_since_a_topic_name_is_never_empty()
    {
        // Pulsar names partition N of a topic <full name>-partition-N, and a full name is never empty.
        Assert.Equal("-partition-0", Naming.TopicOf("-partition-0"));
    }

    [Theory]
    [InlineData("users", "persistent://public/default/users")]
    [InlineData("t/ns/users", "persistent://t/ns/users")]
    [InlineData("persistent://t/ns/users", "persistent://t/ns/users")]
    [InlineData("a/b", null)]
    public void A_short_name_is_completed_as_Pulsar_clients_do(string topic, string? full) =>
        Assert.Equal(full, Naming.FullName(topic));
}
