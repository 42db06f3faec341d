using System.Net;
using Sync.Engine.Ledger;
using Sync.Pulsar;
using Sync.Pulsar.Admin;
using Sync.Pulsar.Protocol.Proto;
using Sync.Sources.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The suppression ledger on a topic (<c>erasure.ledger: { topic: … }</c>) against the fake
/// broker: the ledger contract, the retention it needs, and the view a running process keeps.
/// <para>What the fake models and these tests rely on: compaction keeps the latest message of each
/// key with its original message id (apache/pulsar TwoPhaseCompactor, phase one; FakeTopic.Compaction);
/// a <c>read_compacted</c> reader gets the compacted ledger up to the horizon and the raw topic after
/// it; GET_LAST_MESSAGE_ID answers the raw topic's last id; a non-durable reader resubscribes after
/// the last message it received when its connection is lost (the Java client's ConsumerImpl does the
/// same through its startMessageId); the topic-level retention endpoints of PersistentTopics.java
/// answer 204 on success, and 403/405/500 with {"reason": …} when they refuse.</para></summary>
public sealed class PulsarTopicLedgerTests : PulsarSourceFixture
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private PulsarTopicLedger Ledger(string topic) =>
        (PulsarTopicLedger)Components.Sources["pulsar"].OpenLedger(Config("topics: [unused]").Sources["broker"], topic)!;

    private PulsarAdminClient Admin() => new(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl });

    private static ErasureRequest Request(string id, string keyHash, int minute = 0) =>
        new(id, "customer", keyHash, At.AddMinutes(minute), "alice", RequestStatus.InProgress, null);

    private static async Task<List<ErasureRequest>> ListAsync(ISuppressionLedger ledger)
    {
        var list = new List<ErasureRequest>();
        await foreach (var request in ledger.ListAsync(default))
        {
            list.Add(request);
        }

        return list;
    }

    private static async Task<PulsarTopicLedgerView> CaughtUpViewAsync(ISuppressionLedger ledger)
    {
        var view = (PulsarTopicLedgerView)ledger.OpenView(TimeSpan.FromSeconds(30), TimeProvider.System);
        using var timeout = new CancellationTokenSource(Patience);
        await view.WaitUntilAsync(_ => true, timeout.Token);
        return view;
    }

    private static async Task WaitForAsync(PulsarTopicLedgerView view, string keyHash)
    {
        using var timeout = new CancellationTokenSource(Patience);
        await view.WaitUntilAsync(set => set.Contains(("customer", keyHash)), timeout.Token);
    }

    [Fact]
    public async Task A_key_is_recorded_once_while_its_request_is_active_and_no_message_holds_the_key()
    {
        var topic = NewTopic("ledger-once");
        await using var ledger = Ledger(topic);

        var first = await ledger.RecordAsync([Request("r1", "h1"), Request("r2", "h2")], default);
        var again = await ledger.RecordAsync([Request("r3", "h1", minute: 5)], default);
        await ledger.SetStatusAsync([("r1", RequestStatus.Complete), ("r2", RequestStatus.NotFound)], At.AddMinutes(1), default);

        Assert.Equal(["r1", "r2"], first.Select(r => r.RequestId));
        Assert.Equal("r1", Assert.Single(again).RequestId);
        var found = await ledger.FindAsync("customer", "h1", default);
        Assert.Equal(RequestStatus.Complete, found!.Status);
        Assert.Equal(At.AddMinutes(1), found.CompletedAt);
        Assert.Equal(RequestStatus.NotFound, (await ledger.GetAsync("r2", default))!.Status);
        Assert.Null(await ledger.GetAsync("r3", default));
        Assert.Equal(["r1", "r2"], (await ListAsync(ledger)).Select(r => r.RequestId));
        var stored = Broker.FindTopic(topic)!.Entries.Select(e => e.Metadata.PartitionKey).Distinct().Order().ToList();
        Assert.Equal(["r1", "r2"], stored);
    }

    [Fact]
    public async Task A_revoked_request_and_a_new_request_of_the_same_key_both_survive_compaction_with_their_latest_state()
    {
        var topic = NewTopic("ledger-revoke");
        await using (var ledger = Ledger(topic))
        {
            await ledger.RecordAsync([Request("r1", "h1")], default);
            await ledger.SetStatusAsync([("r1", RequestStatus.Complete)], At.AddMinutes(1), default);
            var revoked = await ledger.RevokeAsync("r1", new Revocation(At.AddMinutes(2), "bob", "mistyped key"), default);
            var twice = await ledger.RevokeAsync("r1", new Revocation(At.AddMinutes(3), "carol", "again"), default);
            Assert.Equal("bob", revoked!.Revocation!.By);
            Assert.Equal("bob", twice!.Revocation!.By);
            Assert.Null(await ledger.FindAsync("customer", "h1", default));
            Assert.Null(await ledger.RevokeAsync("nope", new Revocation(At, "bob", "none"), default));

            var anew = Assert.Single(await ledger.RecordAsync([Request("r2", "h1", minute: 10)], default));
            Assert.Equal("r2", anew.RequestId);
        }

        Broker.Compact(topic);
        await using var reopened = Ledger(topic);
        var all = await ListAsync(reopened);

        Assert.Equal(["r1", "r2"], all.Select(r => r.RequestId));
        Assert.Equal(RequestStatus.Complete, all[0].Status);
        Assert.Equal(new Revocation(At.AddMinutes(2), "bob", "mistyped key"), all[0].Revocation);
        Assert.True(all[1].IsActive);
        Assert.Equal("r2", (await reopened.FindAsync("customer", "h1", default))!.RequestId);
        await using var view = await CaughtUpViewAsync(reopened);
        Assert.Equal([("customer", "h1")], await view.CurrentAsync(default));
    }

    [Fact]
    public async Task Before_the_first_write_the_topic_gets_unlimited_retention_and_a_compaction_threshold()
    {
        var topic = NewTopic("ledger-retention");
        using var admin = Admin();
        await admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(60, 100));
        await using var ledger = Ledger(topic);

        await ledger.RecordAsync([Request("r1", "h1")], default);

        Assert.Equal(new RetentionPolicy(-1, -1), await admin.GetTopicRetentionAsync(topic));
        Assert.Equal(PulsarLedgerRetention.CompactionThresholdBytes, await admin.GetTopicCompactionThresholdAsync(topic));
    }

    [Fact]
    public async Task Retention_already_unlimited_on_the_namespace_is_left_as_it_is()
    {
        var topic = NewTopic("ledger-ns-retention");
        using var admin = Admin();
        await admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(-1, -1));
        await admin.SetNamespaceCompactionThresholdAsync("public/default", 10_000_000);
        await using var ledger = Ledger(topic);

        await ledger.RecordAsync([Request("r1", "h1")], default);

        Assert.Null(await admin.GetTopicRetentionAsync(topic));
        Assert.Null(await admin.GetTopicCompactionThresholdAsync(topic));
    }

    [Theory]
    [InlineData("POST", "/retention", HttpStatusCode.Forbidden, "Don't have admin permission", "setting unlimited retention")]
    [InlineData("POST", "/retention", HttpStatusCode.MethodNotAllowed, "Topic level policies is disabled, to enable the topic level policy and retry.", "setting unlimited retention")]
    [InlineData("GET", "/retention", HttpStatusCode.InternalServerError, "Internal server error", "reading its retention")]
    [InlineData("POST", "/compactionThreshold", HttpStatusCode.Forbidden, "Don't have admin permission", "setting a compaction threshold")]
    public async Task An_erasure_is_refused_and_nothing_recorded_when_the_retention_cannot_be_made_safe(string method, string path, HttpStatusCode status, string reason, string step)
    {
        var topic = NewTopic("ledger-refused");
        Broker.Faults.FailNextAdminRequests(1, method, path, status, reason);
        await using var ledger = Ledger(topic);

        var refused = await Assert.ThrowsAsync<SourceException>(() => ledger.RecordAsync([Request("r1", "h1")], default));

        Assert.Contains(TopicName.Normalize(topic), refused.Message, StringComparison.Ordinal);
        Assert.Contains(step, refused.Message, StringComparison.Ordinal);
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was recorded", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, Broker.Faults.Fired(nameof(FakeBrokerFaults.FailNextAdminRequests)));
        Assert.Empty(Broker.FindTopic(topic)?.Entries ?? []);

        // The next attempt, with the admin API working again, records.
        Assert.Single(await ledger.RecordAsync([Request("r1", "h1")], default));
    }

    [Fact]
    public async Task A_view_sees_an_entry_another_process_records()
    {
        var topic = NewTopic("ledger-propagate");
        await using var reader = Ledger(topic);
        await using var writer = Ledger(topic);
        await using var view = await CaughtUpViewAsync(reader);
        Assert.Empty(await view.CurrentAsync(default));

        await writer.RecordAsync([Request("r1", "h1")], default);
        await WaitForAsync(view, "h1");
        await writer.RevokeAsync("r1", new Revocation(At, "bob", "mistake"), default);
        using var timeout = new CancellationTokenSource(Patience);
        await view.WaitUntilAsync(set => set.Count == 0, timeout.Token);

        Assert.Empty(await view.CurrentAsync(default));
    }

    [Fact]
    public async Task A_view_is_unavailable_while_the_broker_connection_is_cut_and_recovers_with_what_was_written_meanwhile()
    {
        var topic = NewTopic("ledger-cut");
        await using var ledger = Ledger(topic);
        await ledger.RecordAsync([Request("r1", "h1")], default);
        await using var view = await CaughtUpViewAsync(ledger);

        Broker.Faults.ListenerPaused = true;
        Broker.DropAllConnections();
        await EventuallyAsync(() => !view.IsCaughtUp);
        var cut = await Assert.ThrowsAsync<LedgerUnavailableException>(async () => await view.CurrentAsync(default));
        Assert.Contains("connection to the broker", cut.Message, StringComparison.Ordinal);

        // Another process, whose connection holds, records an erasure meanwhile.
        Broker.Publish(topic, new MessageMetadata { ProducerName = "other", SequenceId = 0, PublishTime = 1_700_000_000_000, PartitionKey = "r2" }, EntryOf("r2", "h2"));
        Broker.Faults.ListenerPaused = false;
        await WaitForAsync(view, "h2");

        Assert.Equal(new HashSet<(string, string)> { ("customer", "h1"), ("customer", "h2") }, await view.CurrentAsync(default));
        Assert.Equal(1, Broker.Faults.Fired(nameof(FakePulsarBroker.DropAllConnections)));
    }

    [Fact]
    public async Task A_fresh_view_reports_nothing_until_it_has_read_up_to_the_last_entry_at_its_start()
    {
        var topic = NewTopic("ledger-fresh");
        await using var ledger = Ledger(topic);
        var hashes = Enumerable.Range(0, 6).Select(i => $"h{i}").ToList();
        await ledger.RecordAsync([.. hashes.Select((h, i) => Request($"r{i}", h, i))], default);

        // A slow broker: each frame it sends is late, so the read at start takes a while.
        Broker.Faults.ResponseDelay = TimeSpan.FromMilliseconds(50);
        await using var view = (PulsarTopicLedgerView)ledger.OpenView(TimeSpan.FromSeconds(30), TimeProvider.System);
        var refusals = 0;
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            try
            {
                var current = await view.CurrentAsync(default);
                Assert.Equal(hashes.Count, current.Count);
                break;
            }
            catch (LedgerUnavailableException)
            {
                refusals++;
                await Task.Delay(5, timeout.Token);
            }
        }

        Broker.Faults.ResponseDelay = null;
        Assert.True(refusals > 0, "the view answered before it had read anything");
    }

    private static byte[] EntryOf(string requestId, string keyHash) => Encoding.UTF8.GetBytes(
        $$"""{"requestId":"{{requestId}}","subject":"customer","keyHash":"{{keyHash}}","requestedAt":"2026-12-01T10:05:00.000Z","requestedBy":"dave","status":"in-progress"}""");

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            await Task.Delay(10);
        }
    }
}
