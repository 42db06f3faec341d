using System.Globalization;
using System.Net;
using Sync.Pulsar;

namespace Sync.Testing.Pulsar;

// Admin REST: a topic's internal stats (the cursors' positions) and resetting a subscription's cursor.
public sealed partial class FakePulsarBroker
{
    /// <summary>GET .../{topic}/internalStats: the managed ledger's stats with one entry per cursor.
    /// Positions are "ledger:entry" strings as the broker writes them; a cursor that acknowledged
    /// nothing has its mark-delete position at entry -1 of the first ledger. <c>ledgers</c> lists
    /// every retained ledger, the one being written last with <c>entries</c> 0 (the broker records a
    /// ledger's count when it closes it); that one's count is <c>currentLedgerEntries</c>.</summary>
    internal (HttpStatusCode, object?) AdminInternalStats(string topic)
    {
        lock (Sync)
        {
            if (!_topics.TryGetValue(topic, out var fakeTopic))
            {
                return (HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }

            // The wire id of the entry before a position; before the first retained entry it is
            // entry -1 of the first ledger, as the broker reports a cursor that acknowledged nothing.
            string At(ulong position) =>
                position <= fakeTopic.FirstRetainedLocked
                    ? string.Create(CultureInfo.InvariantCulture, $"{(long)fakeTopic.Ledgers[0].LedgerId}:-1")
                    : Wire(fakeTopic.IdOfLocked(position - 1));
            var cursors = fakeTopic.Subscriptions.ToDictionary(
                s => s.Key,
                s => new { markDeletePosition = At(s.Value.AckedBefore), readPosition = Wire(fakeTopic.IdOfLocked(s.Value.ReadPosition)) },
                StringComparer.Ordinal);
            var ledgers = fakeTopic.Ledgers;
            var current = ledgers[^1];
            return (HttpStatusCode.OK, new
            {
                entriesAddedCounter = fakeTopic.EndLocked,
                currentLedgerEntries = current.EndEntry - current.FirstEntry,
                ledgers = ledgers.Select(l => new
                {
                    ledgerId = (long)l.LedgerId,
                    entries = l.Closed is null ? 0 : (long)(l.EndEntry - l.FirstEntry),
                    size = l.Size,
                    offloaded = false,
                }).ToArray(),
                numberOfEntries = fakeTopic.EndLocked - fakeTopic.FirstRetainedLocked,
                lastConfirmedEntry = At(fakeTopic.EndLocked),
                cursors,
            });
        }
    }

    /// <summary>POST .../{topic}/subscription/{name}/resetcursor with a message id: as the broker's
    /// resetCursor, the mark-delete position moves to just before the given entry (so that entry is
    /// delivered next) and every consumer of the subscription is disconnected and must resubscribe.</summary>
    internal (HttpStatusCode, object?) AdminResetCursor(string topic, string subscriptionName, long ledgerId, long entryId)
    {
        lock (Sync)
        {
            if (!_topics.TryGetValue(topic, out var fakeTopic))
            {
                return (HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }

            if (!fakeTopic.Subscriptions.TryGetValue(subscriptionName, out var subscription))
            {
                return (HttpStatusCode.NotFound, new { reason = "Subscription not found" });
            }

            // A position of a deleted or unknown ledger falls to the nearest that exists, as the
            // broker's resetCursor does with the managed ledger's valid positions.
            var target = fakeTopic.StartPositionOf(new Sync.Pulsar.Protocol.Proto.MessageIdData { LedgerId = (ulong)ledgerId, EntryId = (ulong)Math.Max(entryId, 0) });
            subscription.ResetLocked(target);
            foreach (var attached in subscription.Consumers.ToList())
            {
                attached.Connection.SendCloseConsumerLocked(attached);
            }

            CursorResets++;
            return (HttpStatusCode.NoContent, null);
        }
    }

    /// <summary>Messages delivered so far to each consumer attached to the subscription, by consumer
    /// name (empty when the topic or subscription does not exist).</summary>
    public IReadOnlyDictionary<string, long> DeliveredPerConsumer(string topic, string subscription)
    {
        lock (Sync)
        {
            return _topics.TryGetValue(TopicName.Normalize(topic), out var fakeTopic) && fakeTopic.Subscriptions.TryGetValue(subscription, out var found)
                ? found.Consumers.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(c => c.Delivered), StringComparer.Ordinal)
                : new Dictionary<string, long>();
        }
    }

    private static string Wire(Sync.Pulsar.Protocol.Proto.MessageIdData id) =>
        string.Create(CultureInfo.InvariantCulture, $"{(long)id.LedgerId}:{(long)id.EntryId}");

    /// <summary>How many cursor resets the admin API performed (for tests).</summary>
    public int CursorResets { get; private set; }
}
