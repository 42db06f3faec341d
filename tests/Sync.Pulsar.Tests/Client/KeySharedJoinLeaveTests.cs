using System.Globalization;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// Key_Shared while consumers join and leave, as Pulsar 4.0 (the portable suite's
/// apachepulsar/pulsar:4.0.4) orders it: PIP-379 "draining hashes" in apache/pulsar
/// pulsar-broker/src/main/java/org/apache/pulsar/broker/service/persistent/
/// PersistentStickyKeyDispatcherMultipleConsumers.java (registerDrainingHashes, canDispatchEntry)
/// and .../service/DrainingHashesTracker.java (shouldBlockStickyKeyHash), and the policy check in
/// AbstractSubscription.checkForConsumerCompatibilityErrorWithDispatcher. A key is unacknowledged at one consumer at a
/// time: a newcomer gets a key only after the consumer that had it acknowledged what it holds of
/// it, or left, in which case what it held is redelivered ahead of every later message of the
/// key. allowOutOfOrderDelivery turns the wait off.
/// Non-delivery is proven by the broker's state and by ordering, never by waiting for silence.
/// </summary>
public class KeySharedJoinLeaveTests : ClientTestBase
{
    private const string Subscription = "ks";

    private async Task<PulsarConsumer> JoinAsync(string name, bool allowOutOfOrderDelivery = false) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = Subscription,
            SubscriptionType = SubscriptionType.KeyShared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ConsumerName = name,
            // Acks wait for the broker's answer, so the broker has processed an ack once it returns.
            AckReceiptEnabled = true,
            KeyShared = allowOutOfOrderDelivery ? new KeySharedPolicy { AllowOutOfOrderDelivery = true } : null,
        });

    private static int Slot(string key) => KeyHashing.StickyKeyHash(Encoding.UTF8.GetBytes(key));

    // A second AUTO_SPLIT consumer takes the lower half of the hash space, [0, 32768]
    // (HashRangeAutoSplitStickyKeyConsumerSelector): these keys move to it, the others stay.
    private static readonly string Moving = Enumerable.Range(0, 100).Select(i => $"moving-{i}").First(k => Slot(k) <= 32768);
    private static readonly string Staying = Enumerable.Range(0, 100).Select(i => $"staying-{i}").First(k => Slot(k) > 32768);

    private async Task PublishAsync(string key, int from, int to)
    {
        await using var producer = await ProducerAsync();
        for (var n = from; n <= to; n++)
        {
            await producer.SendAsync(new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{key}:{n}")) });
        }
    }

    private long DeliveredTo(string consumer) => Broker.DeliveredPerConsumer(Topic, Subscription).GetValueOrDefault(consumer);

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    private static string[] Texts(string key, int from, int to) =>
        [.. Enumerable.Range(from, to - from + 1).Select(n => string.Create(CultureInfo.InvariantCulture, $"{key}:{n}"))];

    [Fact]
    public async Task A_newcomer_gets_a_key_only_after_the_consumer_holding_it_acknowledged_what_it_had()
    {
        await using var first = await JoinAsync("first");
        await PublishAsync(Moving, 1, 3);
        var held = await ReceiveAsync(first, 3);

        await using var second = await JoinAsync("second");
        await PublishAsync(Moving, 4, 6);
        await PublishAsync(Staying, 1, 1);

        // Every publish has been dispatched once SendAsync returned (the fake dispatches under the
        // lock that appends): the key's slot is now the newcomer's, yet nothing of it went there.
        Assert.Equal(0, DeliveredTo("second"));
        Assert.Equal(4, DeliveredTo("first"));
        var draining = Assert.Single(Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.KeySharedDrainingHashes["first"]);
        Assert.Equal((Slot(Moving), 3), (draining.Hash, draining.UnackedMessages));
        Assert.True(draining.BlockedAttempts > 0);
        Assert.Equal($"{Staying}:1", Text((await ReceiveAsync(first, 1))[0]));

        await first.AcknowledgeAsync([.. held.Take(2)]);
        Assert.Equal(0, DeliveredTo("second"));
        await first.AcknowledgeAsync([.. held.Skip(2)]);

        // The first message the newcomer gets for the key is the one right after those acknowledged.
        Assert.Equal(Texts(Moving, 4, 6), (await ReceiveAsync(second, 3)).Select(Text));
        Assert.Empty(Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.KeySharedDrainingHashes);
        Assert.Equal(4, DeliveredTo("first"));
    }

    [Fact]
    public async Task With_allow_out_of_order_delivery_a_newcomer_gets_the_key_while_the_old_consumer_still_holds_it()
    {
        await using var first = await JoinAsync("first", allowOutOfOrderDelivery: true);
        await PublishAsync(Moving, 1, 3);
        await ReceiveAsync(first, 3);

        await using var second = await JoinAsync("second", allowOutOfOrderDelivery: true);
        await PublishAsync(Moving, 4, 6);

        // Nothing was acknowledged, and still the newcomer has the rest of the key.
        Assert.Equal(Texts(Moving, 4, 6), (await ReceiveAsync(second, 3)).Select(Text));
        Assert.Equal(6, Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.PendingCount);
        Assert.Empty(Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.KeySharedDrainingHashes);
    }

    [Fact]
    public async Task A_consumer_whose_policy_differs_in_out_of_order_delivery_is_refused_as_busy()
    {
        await using var first = await JoinAsync("first");

        var refused = await Assert.ThrowsAsync<ConsumerBusyException>(() => JoinAsync("second", allowOutOfOrderDelivery: true));

        Assert.Contains("does not allow out of order delivery", refused.ServerMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task What_a_leaving_consumer_held_goes_to_the_new_owner_before_the_later_messages_of_its_keys()
    {
        var first = await JoinAsync("first");
        await PublishAsync(Moving, 1, 3);
        await ReceiveAsync(first, 3);
        await using var second = await JoinAsync("second");
        await PublishAsync(Moving, 4, 6);

        // A lost connection takes the same path in the fake (every consumer of the connection
        // leaves); the kill -9 case of KeySharedJoinLeaveTests in Sync.Cli.Tests drives it.
        await first.DisposeAsync();

        // Redelivered ones first, then the later ones: the key's publish order, nothing missing.
        Assert.Equal(Texts(Moving, 1, 6), (await ReceiveAsync(second, 6)).Select(Text));
    }

    [Fact]
    public async Task Across_joins_and_leaves_a_key_is_held_by_one_consumer_at_a_time_and_goes_out_in_publish_order()
    {
        var keys = Enumerable.Range(0, 16).Select(i => $"account-{i}").ToList();
        var published = new Dictionary<string, int>(StringComparer.Ordinal);
        var log = new Log();
        var consumers = new List<Tracked>();
        await using var producer = await ProducerAsync();

        async Task PublishRoundAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                // 7 is prime to 16: every key comes round, in a shuffled order.
                var key = keys[published.Values.Sum() * 7 % keys.Count];
                var n = published[key] = published.GetValueOrDefault(key) + 1;
                await producer.SendAsync(new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{key}:{n}")) });
            }
        }

        async Task JoinTrackedAsync(string name) => consumers.Add(new Tracked(name, await JoinAsync(name)));

        // Receives everything the broker has sent each consumer, then acknowledges all but the
        // newest `keep` of each, so consumers hold some keys unacknowledged when the set changes.
        // Every receive is logged before any ack of the same round: what a consumer got was sent
        // before those acks, so the log never shows a key as free earlier than it was.
        async Task PumpAsync(int keep)
        {
            foreach (var tracked in consumers)
            {
                // Everything the broker has sent this consumer so far, by the broker's own count.
                while (tracked.Received < DeliveredTo(tracked.Name))
                {
                    using var timeout = new CancellationTokenSource(Patience);
                    var message = await tracked.Consumer.ReceiveAsync(timeout.Token);
                    tracked.Received++;
                    log.Receive(tracked.Name, Text(message));
                    tracked.Held.Add(message);
                }
            }
            foreach (var tracked in consumers)
            {
                var toAck = tracked.Held.Take(Math.Max(0, tracked.Held.Count - keep)).ToList();
                foreach (var message in toAck)
                {
                    log.Ack(tracked.Name, Text(message));
                }
                if (toAck.Count > 0)
                {
                    await tracked.Consumer.AcknowledgeAsync(toAck);
                }
                tracked.Held.RemoveRange(0, toAck.Count);
            }
        }

        async Task LeaveAsync(string name)
        {
            var tracked = consumers.Single(c => c.Name == name);
            consumers.Remove(tracked);
            log.Leave(name);
            await tracked.Consumer.DisposeAsync();
        }

        await JoinTrackedAsync("a");
        await PublishRoundAsync(40);
        await PumpAsync(keep: 10);
        await JoinTrackedAsync("b");
        await PublishRoundAsync(40);
        await PumpAsync(keep: 10);
        await JoinTrackedAsync("c");
        await PublishRoundAsync(40);
        await PumpAsync(keep: 10);
        await LeaveAsync("a");
        await PublishRoundAsync(40);
        await PumpAsync(keep: 10);
        await JoinTrackedAsync("d");
        await PublishRoundAsync(40);
        await PumpAsync(keep: 10);
        await LeaveAsync("c");
        await PublishRoundAsync(40);
        // Acks let held-back keys go, which may send more to a consumer pumped earlier in the round.
        var deadline = DateTime.UtcNow + Patience;
        while (log.Seen < published.Values.Sum() || Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.PendingCount > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {log.Seen} of {published.Values.Sum()} messages were received and acknowledged");
            await PumpAsync(keep: 0);
            await Task.Delay(5);
        }

        log.AssertOneHolderAtATimeAndPublishOrder(published);
        Assert.Equal(0, Broker.FindTopic(Topic)!.FindSubscription(Subscription)!.PendingCount);
        foreach (var tracked in consumers)
        {
            await tracked.Consumer.DisposeAsync();
        }
    }

    private sealed class Tracked(string name, PulsarConsumer consumer)
    {
        public string Name { get; } = name;

        public PulsarConsumer Consumer { get; } = consumer;

        public long Received { get; set; }

        public List<PulsarMessage> Held { get; } = [];
    }

    /// <summary>
    /// What the test saw, in the order it saw it. A receive is seen after the broker sent it, and
    /// the broker sent it after every ack and close the test had logged before, so checking the
    /// invariant on this order never blames the broker wrongly.
    /// </summary>
    private sealed class Log
    {
        private readonly Dictionary<string, Dictionary<string, int>> _held = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _highest = new(StringComparer.Ordinal);
        private readonly List<string> _violations = [];

        public void Receive(string consumer, string text)
        {
            var (key, n) = Parse(text);
            foreach (var (other, keysHeld) in _held)
            {
                if (other != consumer && keysHeld.GetValueOrDefault(key) > 0)
                {
                    _violations.Add($"{consumer} got {text} while {other} held {keysHeld[key]} unacknowledged of {key}");
                }
            }
            var highest = _highest.GetValueOrDefault(key);
            if (n > highest + 1)
            {
                _violations.Add($"{consumer} got {text} before {key}:{highest + 1}");
            }
            _highest[key] = Math.Max(highest, n);
            var mine = _held.TryGetValue(consumer, out var found) ? found : _held[consumer] = new(StringComparer.Ordinal);
            mine[key] = mine.GetValueOrDefault(key) + 1;
        }

        /// <summary>How many different messages were received.</summary>
        public int Seen => _highest.Values.Sum();

        public void Ack(string consumer, string text) => _held[consumer][Parse(text).Key]--;

        public void Leave(string consumer) => _held.Remove(consumer);

        public void AssertOneHolderAtATimeAndPublishOrder(Dictionary<string, int> published)
        {
            Assert.Empty(_violations);
            Assert.Equal(published.OrderBy(p => p.Key), _highest.OrderBy(p => p.Key));
        }

        private static (string Key, int N) Parse(string text)
        {
            var colon = text.LastIndexOf(':');
            return (text[..colon], int.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture));
        }
    }
}
