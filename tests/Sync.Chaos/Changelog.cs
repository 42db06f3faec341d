using System.Globalization;
using System.Text;
using Sync.Pulsar;

namespace Sync.Chaos;

/// <summary>A row's identity after the materializer's map stage: the tenant column joins the
/// source's composite key (id, region) first.</summary>
public readonly record struct RowKey(string Tenant, long Id, string Region)
{
    public override string ToString() => $"{Tenant}/{Id}/{Region}";
}

/// <summary>How a Debezium deployment writes to Pulsar. Pulsar IO's Debezium source sends the key
/// as base64 of the JSON key bytes and drops Debezium's tombstones (a delete is op=d only);
/// Debezium Server's Pulsar sink sends the JSON key as text and follows each delete with a
/// tombstone (an empty, null-value message with the same key).</summary>
public enum WriterStyle
{
    PulsarIo,
    DebeziumServer,
}

/// <summary>One tenant's source database, captured into its own topic.</summary>
public sealed record TenantTopic(string Tenant, string Topic, WriterStyle Style);

/// <summary>One message to publish, and what it does to the reference model.</summary>
public sealed record ChangelogMessage(TenantTopic Source, RowKey Key, char Op, long? Lsn, OutgoingMessage Message)
{
    public bool IsTombstone => Lsn is null;
}

/// <summary>
/// Generates a realistic changelog from a seed: an initial snapshot (op=r), then creates, updates
/// and deletes of composite keys over several tenant topics, re-creates of deleted keys and
/// re-snapshots of live rows, with one global, increasing LSN (each row's <c>version</c> column is
/// its LSN, so that sink state can be compared with the model).
/// </summary>
public sealed class ChangelogGenerator
{
    private static readonly string[] Regions = ["eu", "us"];
    public static readonly string[] Notes = ["plain", "with \"quotes\" and \\ backslash", "ünïcödé ✓", "line\nbreak", "{curly}:colon*star", ""];
    private readonly Random _random;
    private readonly int _idsPerTenant;
    private readonly HashSet<RowKey> _live = [];
    private readonly Queue<ChangelogMessage> _pending = new();
    private long _lsn = 1_000;

    public ChangelogGenerator(int seed, IReadOnlyList<TenantTopic> tenants, int idsPerTenant)
    {
        _random = new Random(seed);
        Tenants = tenants;
        _idsPerTenant = idsPerTenant;
    }

    public IReadOnlyList<TenantTopic> Tenants { get; }

    /// <summary>Three tenants: two written by Pulsar IO, one by Debezium Server.</summary>
    public static IReadOnlyList<TenantTopic> DefaultTenants(string run) =>
    [
        new("tenant_a", $"persistent://public/default/chaos{run}_tenant_a.public.items", WriterStyle.PulsarIo),
        new("tenant_b", $"persistent://public/default/chaos{run}_tenant_b.public.items", WriterStyle.PulsarIo),
        new("tenant_c", $"persistent://public/default/chaos{run}_tenant_c.public.items", WriterStyle.DebeziumServer),
    ];

    /// <summary>The snapshot of a third of the keys, as Debezium's initial snapshot emits them.</summary>
    public IEnumerable<ChangelogMessage> Snapshot()
    {
        foreach (var tenant in Tenants)
        {
            for (var id = 0; id < _idsPerTenant; id += 3)
            {
                var key = new RowKey(tenant.Tenant, id, Regions[id % Regions.Length]);
                _live.Add(key);
                yield return Upsert(tenant, key, 'r', snapshot: "true");
            }
        }
    }

    /// <summary>The next message of the stream.</summary>
    public ChangelogMessage Next()
    {
        if (_pending.TryDequeue(out var queued))
        {
            return queued;
        }

        var tenant = Tenants[_random.Next(Tenants.Count)];
        var key = new RowKey(tenant.Tenant, _random.Next(_idsPerTenant), Regions[_random.Next(Regions.Length)]);
        if (!_live.Contains(key))
        {
            // A create, or a re-create of a key deleted earlier.
            _live.Add(key);
            return Upsert(tenant, key, 'c', snapshot: "false");
        }

        var roll = _random.Next(100);
        if (roll < 70)
        {
            return Upsert(tenant, key, 'u', snapshot: "false");
        }

        if (roll < 92)
        {
            _live.Remove(key);
            var delete = Delete(tenant, key);
            if (tenant.Style == WriterStyle.DebeziumServer)
            {
                _pending.Enqueue(new ChangelogMessage(tenant, key, 't', null, OutgoingMessage.Tombstone(KeyJson(key))));
            }

            return delete;
        }

        // An incremental snapshot re-reads a live row: op=r with the current state, marked
        // "incremental" (SnapshotRecord.INCREMENTAL, written lower case by toSource: debezium/debezium
        // at v1.9.7.Final, debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java),
        // never "true", which marks a full snapshot and would start a new source epoch.
        return Upsert(tenant, key, 'r', snapshot: "incremental");
    }

    private ChangelogMessage Upsert(TenantTopic tenant, RowKey key, char op, string snapshot)
    {
        var lsn = ++_lsn;
        var note = Notes[_random.Next(Notes.Length)];
        var after = $"{{\"id\":{key.Id},\"region\":\"{key.Region}\",\"version\":{lsn},\"note\":{Json(note)},\"amount\":{(lsn % 10_000) / 100.0:0.00}}}";
        var value = $"{{\"before\":null,\"after\":{after},\"source\":{Source(tenant, lsn, snapshot)},\"op\":\"{op}\",\"ts_ms\":{1_764_000_000_000 + lsn}}}";
        return new ChangelogMessage(tenant, key, op, lsn, Message(tenant, key, value));
    }

    private ChangelogMessage Delete(TenantTopic tenant, RowKey key)
    {
        var lsn = ++_lsn;
        var value = $"{{\"before\":{{\"id\":{key.Id},\"region\":\"{key.Region}\"}},\"after\":null,\"source\":{Source(tenant, lsn, snapshot: "false")},\"op\":\"d\",\"ts_ms\":{1_764_000_000_000 + lsn}}}";
        return new ChangelogMessage(tenant, key, 'd', lsn, Message(tenant, key, value));
    }

    private static OutgoingMessage Message(TenantTopic tenant, RowKey key, string value) => tenant.Style == WriterStyle.PulsarIo
        ? new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes(KeyJson(key)), Data = Encoding.UTF8.GetBytes(value) }
        : new OutgoingMessage { Key = KeyJson(key), Data = Encoding.UTF8.GetBytes(value) };

    private static string KeyJson(RowKey key) => $"{{\"id\":{key.Id},\"region\":\"{key.Region}\"}}";

    private static string Source(TenantTopic tenant, long lsn, string snapshot) =>
        $"{{\"connector\":\"postgresql\",\"name\":\"{tenant.Tenant}\",\"db\":\"{tenant.Tenant}\",\"schema\":\"public\",\"table\":\"items\",\"lsn\":{lsn},\"txId\":{lsn / 3},\"snapshot\":\"{snapshot}\",\"ts_ms\":{1_764_000_000_000 + lsn}}}";

    private static string Json(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}

/// <summary>The reference model: the final state of every key, from the messages the broker
/// confirmed. A tombstone changes nothing (its delete came first).</summary>
public sealed class ReferenceModel
{
    private readonly Dictionary<RowKey, long> _rows = [];
    private readonly Lock _gate = new();

    public long Published { get; private set; }

    public void Apply(ChangelogMessage message)
    {
        lock (_gate)
        {
            Published++;
            if (message.Lsn is not { } lsn)
            {
                return;
            }

            if (message.Op == 'd')
            {
                _rows.Remove(message.Key);
            }
            else
            {
                _rows[message.Key] = lsn;
            }
        }
    }

    /// <summary>Key -> version of every live row.</summary>
    public IReadOnlyDictionary<RowKey, long> Rows()
    {
        lock (_gate)
        {
            return new Dictionary<RowKey, long>(_rows);
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Published} messages, {_rows.Count} live rows");
}
