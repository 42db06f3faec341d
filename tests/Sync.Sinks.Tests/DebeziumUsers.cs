using Sync.Pulsar;

namespace Sync.Sinks.Tests;

/// <summary>Changes of rows of <c>users</c> (<c>id</c>, <c>name</c>) as Pulsar IO's Debezium source
/// publishes them from PostgreSQL: the key as the JSON key bytes, the envelope without schema
/// (<c>source.lsn</c>, <c>source.snapshot</c> as in debezium/debezium,
/// debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/SourceInfo.java and
/// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</summary>
internal static class DebeziumUsers
{
    public static byte[] Key(int id) => Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");

    /// <summary>The envelope of user <paramref name="id"/>: a read (<c>op: r</c>) inside a snapshot, an
    /// update when streamed (<paramref name="snapshot"/> is <c>false</c>).</summary>
    public static byte[] Envelope(int id, string? name, long lsn, string snapshot) => Encoding.UTF8.GetBytes(string.Create(
        CultureInfo.InvariantCulture,
        $"{{\"before\":null,\"after\":{{\"id\":{id},\"name\":\"{name}\"}},\"source\":{{\"connector\":\"postgresql\",\"db\":\"app\",\"schema\":\"public\",\"table\":\"users\",\"snapshot\":\"{snapshot}\",\"lsn\":{lsn}}},\"op\":\"{(snapshot == "false" ? "u" : "r")}\",\"ts_ms\":1}}"));

    /// <summary>Publishes <paramref name="events"/> to <paramref name="topic"/> in order, through a producer of its own.</summary>
    public static async Task PublishAsync(PulsarClient client, string topic, IEnumerable<(int Id, string? Name, long Lsn, string Snapshot)> events)
    {
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        foreach (var (id, name, lsn, snapshot) in events)
        {
            await producer.SendAsync(new OutgoingMessage { KeyBytes = Key(id), Data = Envelope(id, name, lsn, snapshot) });
        }
    }
}
