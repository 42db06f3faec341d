namespace Sync.Sources.Pulsar;

/// <summary>Refuses a partitioned topic as a ledger. A ledger is one stream: its entries are keyed by
/// request id, and a status change or a revocation is a later message of its own key. On a partitioned
/// topic each key goes to its own partition, so no single last message id tells a reader that it has
/// read the whole ledger (a fresh process could decide with a half-read one), and a request's entries
/// would be compacted on partitions read in no common order.
/// <para>Asked through the admin API: <c>GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions</c>
/// answers the partitioned metadata, <c>{"partitions": N}</c>, N = 0 for a topic that is not
/// partitioned or does not exist yet (https://pulsar.apache.org/docs/2.5.0/admin-api-partitioned-topics/,
/// "Get metadata"; apache/pulsar PersistentTopics.java, getPartitionedMetadata).</para></summary>
internal static class PulsarLedgerPartitions
{
    public static async Task RefuseIfPartitionedAsync(PulsarAdminClient admin, string topic, CancellationToken cancellationToken)
    {
        int partitions;
        try
        {
            partitions = await admin.GetPartitionCountAsync(topic, cancellationToken);
        }
        catch (Exception e) when (e is PulsarAdminException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new SourceException($"the ledger topic {topic} cannot be used: reading its partitioned metadata failed: {e.Message}. Nothing was read or recorded", e);
        }

        if (partitions > 0)
        {
            throw new SourceException(
                $"the ledger topic {topic} is a partitioned topic ({partitions.ToString(CultureInfo.InvariantCulture)} partitions): a ledger must be one non-partitioned topic, "
                + "read in the order it was written, or a process could miss a request or its latest state. Nothing was read or recorded. "
                + "Name a topic that does not exist yet in erasure.ledger.topic (sync creates it non-partitioned), or create one with: pulsar-admin topics create <topic>");
        }
    }
}
