using Npgsql;
using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>An order created for user 15 and then reassigned to user 243: erasing user 15 must not
/// take the order from user 243, in PostgreSQL, on the topic, or in a later run or backfill. The
/// fake broker in this process, real PostgreSQL (SYNC_TEST_POSTGRES), real <c>sync</c> processes.</summary>
public sealed class PulsarMovedRowEraseTests() : PulsarPostgresCliFixture("moved")
{
    private readonly string _topic = NewTopic("shop.public.orders");

    [Fact]
    public async Task Erasing_a_user_keeps_an_order_that_moved_to_another_user_through_erase_run_and_backfill()
    {
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic }))
        {
            await PublishOrderAsync(producer, 100, "c", before: null, after: (15, "first"), lsn: 10);
            await PublishOrderAsync(producer, 100, "u", before: (15, "first"), after: (15, "second"), lsn: 11);
            await PublishOrderAsync(producer, 100, "u", before: (15, "second"), after: (243, "moved"), lsn: 12);
            await PublishOrderAsync(producer, 101, "c", before: null, after: (15, "only 15"), lsn: 13);
            await PublishOrderAsync(producer, 102, "c", before: null, after: (243, "only 243"), lsn: 14);
        }

        var config = Workspace.Write("sync.yaml", $"""
            sources:
              broker: {Broker.SourceYaml("initialPosition: earliest")}
            sinks:
              pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
            materializers:
              orders: {"{"} source: broker, topics: ['{_topic}'], sink: pg, table: {Table}, linger: 0ms {"}"}
            subjects:
              user:
                orders: {"{"} field: user_id {"}"}
            erasure:
              secret: 'moved-row-secret-0123456789'
              ledger: ledger.db
            """);
        var run = await RunUntilAsync(() => AllAcknowledged(_topic, "sync-orders"), "run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        string[] expected = ["100|243|moved", "102|243|only 243"];
        Assert.Equal(["100|243|moved", "101|15|only 15", "102|243|only 243"], await RowsAsync());

        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "15", "--report", "report.json");
        // Exit 3: the raw log keeps the subject's messages until retention expires (raw residue);
        // the compacted view and the sink are clean.
        Assert.True(erase.ExitCode == 3, erase.ToString());
        Assert.Equal(expected, await RowsAsync());
        var report = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Workspace.File("report.json"))).RootElement;
        var topic = report.GetProperty("topics")[0];
        Assert.Equal("SUCCESS", topic.GetProperty("compaction").GetString());
        Assert.Equal(0, report.GetProperty("sinks")[0].GetProperty("remaining").GetInt64());
        Assert.Equal(1, topic.GetProperty("keysFound").GetInt32()); // order 101
        Assert.Equal(1, topic.GetProperty("scrubbed").GetInt32()); // order 100
        Assert.Equal(0, topic.GetProperty("compactedViewMatches").GetInt64());
        Assert.DoesNotContain(CompactedValues(), v => v.Contains("\"user_id\":15", StringComparison.Ordinal));
        Assert.Contains(CompactedValues(), v => v.Contains("\"user_id\":243,\"note\":\"moved\"", StringComparison.Ordinal));

        // The run applies the erase's tombstone (101) and the scrubbed copy of 100 (same LSN, same values).
        run = await RunUntilAsync(() => AllAcknowledged(_topic, "sync-orders"), "run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(expected, await RowsAsync());

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "orders");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(expected, await RowsAsync());
        Assert.DoesNotContain(CompactedValues(), v => v.Contains("\"user_id\":15", StringComparison.Ordinal));
    }

    /// <summary>A Debezium change as Pulsar IO writes it: base64 JSON key, bare envelope, op=d without tombstone.</summary>
    private static async Task PublishOrderAsync(IPulsarProducer producer, int id, string op, (int User, string Note)? before, (int User, string Note)? after, long lsn)
    {
        static string Image(int id, (int User, string Note)? row) =>
            row is { } r ? string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{id},\"user_id\":{r.User},\"note\":\"{r.Note}\"}}") : "null";
        var value = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":{Image(id, before)},\"after\":{Image(id, after)},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"orders\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        await producer.SendAsync(new OutgoingMessage
        {
            KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"),
            Data = Encoding.UTF8.GetBytes(value),
            EventTimeMs = (ulong)(1_700_000_000_000 + lsn),
        });
    }

    /// <summary>The values the topic's compacted view holds, as text.</summary>
    private List<string> CompactedValues() =>
        [.. Broker.FindTopic(_topic)!.CompactedEntries.Select(e => Encoding.Latin1.GetString(e.MessageBytes))];

    private async Task<List<string>> RowsAsync()
    {
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand($"SELECT id, user_id, note FROM {Table} ORDER BY id", connection);
        await using var reader = await select.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Create(CultureInfo.InvariantCulture, $"{reader.GetInt64(0)}|{reader.GetInt64(1)}|{reader.GetString(2)}"));
        }

        return rows;
    }
}
