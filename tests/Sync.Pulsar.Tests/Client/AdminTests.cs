using System.Net;
using Sync.Pulsar.Admin;

namespace Sync.Pulsar.Tests.Client;

/// <summary>The admin REST client against the fake broker's admin endpoint.</summary>
public class AdminTests : AdminClientTestBase
{
    private string Namespace { get; } = $"tenant-{Guid.NewGuid():N}"[..15] + "/ns";

    [Fact]
    public async Task Topics_of_a_namespace_are_listed_with_their_partitions()
    {
        await Admin.CreateTopicAsync($"{Namespace}/plain");
        await Admin.CreateTopicAsync($"{Namespace}/split", partitions: 2);

        var topics = await Admin.ListTopicsAsync(Namespace);
        var partitioned = await Admin.ListPartitionedTopicsAsync(Namespace);

        Assert.Equal(
            [$"persistent://{Namespace}/plain", $"persistent://{Namespace}/split-partition-0", $"persistent://{Namespace}/split-partition-1"],
            topics);
        Assert.Equal([$"persistent://{Namespace}/split"], partitioned);
        Assert.Equal(2, await Admin.GetPartitionCountAsync($"{Namespace}/split"));
        Assert.Equal(0, await Admin.GetPartitionCountAsync($"{Namespace}/plain"));
    }

    [Fact]
    public async Task Creating_an_existing_topic_fails_with_the_brokers_reason()
    {
        await Admin.CreateTopicAsync($"{Namespace}/twice");

        var error = await Assert.ThrowsAsync<PulsarAdminException>(() => Admin.CreateTopicAsync($"{Namespace}/twice"));

        Assert.Equal(HttpStatusCode.Conflict, error.StatusCode);
        Assert.Equal("This topic already exists", error.Reason);
    }

    [Fact]
    public async Task Compaction_is_triggered_and_reported()
    {
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Key = "k", Data = "old"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "k", Data = "new"u8.ToArray() });
        }
        Assert.Equal(CompactionState.NotRun, (await Admin.GetCompactionStatusAsync(Topic)).State);

        await Admin.CompactAndWaitAsync(Topic, TimeSpan.FromMilliseconds(10));

        Assert.Equal(new CompactionStatus(CompactionState.Success, null), await Admin.GetCompactionStatusAsync(Topic));
        var survivor = Assert.Single(Broker.FindTopic(Topic)!.CompactedEntries);
        Assert.Equal(1ul, survivor.EntryId);
    }

    [Fact]
    public async Task Failed_compaction_surfaces_its_last_error()
    {
        await Admin.CreateTopicAsync(Topic);
        Broker.Faults.FailNextCompaction("bookie unavailable");

        var error = await Assert.ThrowsAsync<PulsarAdminException>(() => Admin.CompactAndWaitAsync(Topic, TimeSpan.FromMilliseconds(10)));

        Assert.Contains("bookie unavailable", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, Broker.Faults.Fired(nameof(FakeBrokerFaults.FailNextCompaction)));
    }

    [Fact]
    public async Task Truncate_moves_subscriptions_to_the_end()
    {
        await using (var consumer = await ConsumerAsync())
        {
        }
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "backlog"u8.ToArray() });
        }

        await Admin.TruncateAsync(Topic);

        await using var again = await ConsumerAsync();
        await AssertOnlyAMarkerComesNextAsync(again);
    }

    [Fact]
    public async Task Topic_and_namespace_retention_round_trip()
    {
        await Admin.CreateTopicAsync(Topic);
        Assert.Null(await Admin.GetTopicRetentionAsync(Topic));

        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(60, -1));
        await Admin.SetNamespaceRetentionAsync(Namespace, new RetentionPolicy(-1, 1024));

        Assert.Equal(new RetentionPolicy(60, -1), await Admin.GetTopicRetentionAsync(Topic));
        Assert.Equal(new RetentionPolicy(-1, 1024), await Admin.GetNamespaceRetentionAsync(Namespace));
        await Admin.RemoveTopicRetentionAsync(Topic);
        Assert.Null(await Admin.GetTopicRetentionAsync(Topic));
    }

    [Fact]
    public async Task Deleting_a_topic_in_use_needs_force()
    {
        await using var consumer = await ConsumerAsync();

        var refused = await Assert.ThrowsAsync<PulsarAdminException>(() => Admin.DeleteTopicAsync(Topic));
        await Admin.DeleteTopicAsync(Topic, force: true);

        Assert.Equal(HttpStatusCode.PreconditionFailed, refused.StatusCode);
        Assert.Equal("Topic has active producers/subscriptions", refused.Reason);
        // Force closes the consumer from the broker side; it resubscribes, and topic
        // auto-creation (on by default) brings the topic back, empty, as on a real broker.
        // At least once: a resubscribe that races the deletion is closed and retried again.
        await EventuallyAsync(() => consumer.SubscribeCount >= 2, "the consumer was closed and resubscribed");
    }

    [Fact]
    public async Task Deleting_a_missing_topic_is_not_found()
    {
        var error = await Assert.ThrowsAsync<PulsarAdminException>(() => Admin.DeleteTopicAsync($"{Namespace}/never"));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Wrong_token_is_refused_with_401()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "admin-jwt" });
        using var wrong = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = broker.AdminUrl, AuthenticationToken = "nope" });
        using var right = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = broker.AdminUrl, AuthenticationToken = "admin-jwt" });

        var error = await Assert.ThrowsAsync<PulsarAdminException>(() => wrong.ListTopicsAsync("public/default"));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Empty(await right.ListTopicsAsync("public/default"));
    }

    [Theory]
    [InlineData("orders", "admin/v2/persistent/public/default/orders")]
    [InlineData("t/ns/orders", "admin/v2/persistent/t/ns/orders")]
    [InlineData("persistent://t/ns/a b", "admin/v2/persistent/t/ns/a%20b")]
    public void Topic_paths_follow_the_admin_v2_layout(string topic, string path)
    {
        Assert.Equal(path, PulsarAdminClient.TopicPath(topic));
    }

    [Fact]
    public void Admin_options_name_the_wrong_setting()
    {
        var error = Assert.Throws<ArgumentException>(() => new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = new Uri("pulsar://x:6650") }));

        Assert.Contains("serviceUrl (pulsar://x:6650/) must be an http:// or https:// URL", error.Message, StringComparison.Ordinal);
    }
}
