using Sync.Pulsar.Protocol.Proto;
using Xunit;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// GET_TOPICS_OF_NAMESPACE with a topics_pattern, in the shapes clients send it: Java clients send
/// the pattern with its domain (<c>persistent://public/default/db1\..*</c>), ours strips it and
/// anchors it. The broker (apache/pulsar pulsar-common/.../topics/TopicList.java: filterTopics,
/// removeTopicDomainScheme; TopicsPattern.matches uses Matcher.matches) drops the domain from the
/// pattern and requires it to match the whole name without domain and partition suffix.
/// </summary>
public sealed class TopicPatternShapesTests : ClientTestBase
{
    private readonly string _prefix = $"db{Guid.NewGuid():N}"[..10];

    private async Task<IReadOnlyList<string>> MatchAsync(string pattern)
    {
        foreach (var name in (string[])[$"{_prefix}.users", $"{_prefix}.orders", $"{_prefix}.orders-extra", $"other-{_prefix}.users"])
        {
            await using var producer = await ProducerAsync(new ProducerOptions { Topic = $"persistent://public/default/{name}" });
        }

        var connection = await Client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);
        var requestId = connection.NextRequestId();
        var answer = await connection.RequestAsync(
            new BaseCommand
            {
                Type = BaseCommand.Types.Type.GetTopicsOfNamespace,
                GetTopicsOfNamespace = new CommandGetTopicsOfNamespace
                {
                    RequestId = requestId,
                    Namespace = "public/default",
                    Mode = CommandGetTopicsOfNamespace.Types.Mode.Persistent,
                    TopicsPattern = pattern,
                },
            },
            requestId,
            "GET_TOPICS_OF_NAMESPACE",
            CancellationToken.None);
        Assert.True(answer.GetTopicsOfNamespaceResponse.Filtered);
        return [.. answer.GetTopicsOfNamespaceResponse.Topics.Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task A_pattern_sent_with_its_domain_as_Java_clients_send_it_matches_the_topics()
    {
        var topics = await MatchAsync($"persistent://public/default/{_prefix}\\..*");

        Assert.Equal([$"persistent://public/default/{_prefix}.orders", $"persistent://public/default/{_prefix}.orders-extra", $"persistent://public/default/{_prefix}.users"], topics);
    }

    [Fact]
    public async Task A_pattern_must_match_the_whole_name_not_a_part_of_it()
    {
        var topics = await MatchAsync($"public/default/{_prefix}\\.orders");

        Assert.Equal([$"persistent://public/default/{_prefix}.orders"], topics);
    }

    [Fact]
    public async Task An_anchored_pattern_without_domain_as_our_client_sends_it_matches_the_same()
    {
        var topics = await MatchAsync($"^public/default/{_prefix}\\.orders$");

        Assert.Equal([$"persistent://public/default/{_prefix}.orders"], topics);
    }
}
