using System.Globalization;
using System.Text;

namespace Sync.Testing.Changes;

/// <summary>
/// A changelog file of source transactions with Debezium's transaction metadata, as Pulsar IO's
/// Debezium PostgreSQL source (Debezium 1.9.7.Final) writes them: bank transfers (each debits one
/// account and credits another, with two <c>ledger_entries</c>) and orders with their lines. Shapes:
/// <list type="bullet">
/// <item>BEGIN <c>{"status":"BEGIN","id":"&lt;txId&gt;","event_count":null,"data_collections":null}</c> and END
/// with <c>event_count</c> and per-table <c>data_collections</c> on <c>&lt;prefix&gt;.transaction</c>, key
/// <c>{"id": …}</c>; 1.9 has no <c>ts_ms</c> and the bare txId as id (debezium/debezium tag v1.9.7.Final
/// <c>debezium-core/src/main/java/io/debezium/pipeline/txmetadata/TransactionMonitor.java</c>;
/// postgresql.adoc "Transaction metadata").</item>
/// <item>Each change with <c>transaction: {id, total_order, data_collection_order}</c> (same file,
/// <c>transactionEvent</c>) and a 1.9 PostgreSQL <c>source</c> block.</item>
/// <item>Keys as base64 of the JSON key bytes, bare values (apache/pulsar
/// <c>pulsar-io/kafka-connect-adaptor/.../KafkaConnectSource.java</c>; /work/shared/cdc-facts.md);
/// the same shapes as tests/corpus/debezium/non-row-messages.</item>
/// </list>
/// Each topic holds its records in commit order; the file interleaves the topics at random (as a
/// consumer of several topics sees them), keeping each topic's order.
/// </summary>
public sealed class BankTransfers
{
    public const string Prefix = "persistent://public/default/bank.";
    public const string TransactionTopic = Prefix + "transaction";
    public const int InitialBalance = 1000;

    private readonly Dictionary<string, List<string>> _topics = new(StringComparer.Ordinal);
    private readonly Random _random;
    private long _lsn = 50_000_000;
    private long _tx = 700;
    private int _ledger;
    private int _order;
    private int _line;

    public BankTransfers(int accounts, int transactions, int seed, double orderShare = 0.4, int maxLines = 4)
    {
        _random = new Random(seed);
        Accounts = accounts;
        Balances = new long[accounts + 1];
        Transaction([.. Enumerable.Range(1, accounts).Select(id => Change("accounts", "c", id, $$"""{"id":{{id}},"balance":{{InitialBalance}}}"""))]);
        for (var id = 1; id <= accounts; id++)
        {
            Balances[id] = InitialBalance;
        }

        for (var t = 0; t < transactions; t++)
        {
            if (_random.NextDouble() < orderShare)
            {
                var order = ++_order;
                var lines = 1 + _random.Next(maxLines);
                var changes = new List<(string, string, int, string)> { Change("orders", "c", order, $$"""{"id":{{order}},"line_count":{{lines}}}""") };
                for (var l = 0; l < lines; l++)
                {
                    var line = ++_line;
                    changes.Add(Change("order_lines", "c", line, $$"""{"id":{{line}},"order_id":{{order}},"amount":{{1 + _random.Next(100)}}}"""));
                }

                Transaction(changes);
                OrderLines += lines;
            }
            else
            {
                var from = 1 + _random.Next(accounts);
                var to = 1 + ((from + _random.Next(accounts - 1)) % accounts);
                var amount = 1 + _random.Next(50);
                Balances[from] -= amount;
                Balances[to] += amount;
                Transaction(
                [
                    Change("accounts", "u", from, $$"""{"id":{{from}},"balance":{{Balances[from]}}}"""),
                    Change("accounts", "u", to, $$"""{"id":{{to}},"balance":{{Balances[to]}}}"""),
                    Change("ledger_entries", "c", ++_ledger, $$"""{"id":{{_ledger}},"account_id":{{from}},"amount":{{-amount}}}"""),
                    Change("ledger_entries", "c", ++_ledger, $$"""{"id":{{_ledger}},"account_id":{{to}},"amount":{{amount}}}"""),
                ]);
            }
        }
    }

    public int Accounts { get; }

    /// <summary>Each account's balance after every transaction (index 0 unused).</summary>
    public long[] Balances { get; }

    public long TotalBalance => (long)Accounts * InitialBalance;

    public int Orders => _order;

    public int OrderLines { get; private set; }

    public int LedgerEntries => _ledger;

    /// <summary>Source transactions written, the first (the accounts' creation) included.</summary>
    public long TransactionCount => _tx - 700;

    /// <summary>Transaction ids whose END record is left out (a connector that restarted mid-transaction).</summary>
    public HashSet<long> WithoutEnd { get; } = [];

    /// <summary>The changelog lines, the topics interleaved at random with each topic's order kept.</summary>
    public string Changelog(int seed)
    {
        var random = new Random(seed);
        var queues = _topics.Values.Select(lines => new Queue<string>(lines)).Where(q => q.Count > 0).ToList();
        var text = new StringBuilder();
        while (queues.Count > 0)
        {
            var queue = queues[random.Next(queues.Count)];
            text.Append(queue.Dequeue()).Append('\n');
            if (queue.Count == 0)
            {
                queues.Remove(queue);
            }
        }

        return text.ToString();
    }

    /// <summary>The YAML of a consistency group of the four materializers (<see cref="Materializers"/>).</summary>
    public const string GroupConfig = """

        consistency:
          bank:
            transactions: persistent://public/default/bank.transaction
            materializers: [accounts, ledger_entries, orders, order_lines]
        """;

    /// <summary>A query that a reader runs in one statement, so in one snapshot of the sink: 0 when no
    /// order is visible without all of its lines and the total balance is whole (once the accounts
    /// exist), else 1,000,000 per such order plus 1 for a total that is off.</summary>
    public string Violations => string.Format(
        CultureInfo.InvariantCulture,
        "SELECT (SELECT count(*) FROM orders o WHERE o.line_count <> (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id)) * 1000000 "
        + "+ CASE WHEN (SELECT count(*) FROM accounts) IN (0, {0}) AND coalesce((SELECT sum(balance) FROM accounts), 0) IN (0, {1}) THEN 0 ELSE 1 END",
        Accounts,
        TotalBalance);

    /// <summary>The YAML of one materializer per table, <paramref name="extra"/> added to each.</summary>
    public static string Materializers(string extra = "") => "materializers:\n" + string.Concat(
        new[] { "accounts", "ledger_entries", "orders", "order_lines" }.Select(table => $"""
              {table}:
                source: changelog
                topics: ['{Prefix}public.{table}']
                sink: local
                table: {table}
            {extra}

            """));

    private (string Table, string Op, int Id, string After) Change(string table, string op, int id, string after) => (table, op, id, after);

    private void Transaction(IReadOnlyList<(string Table, string Op, int Id, string After)> changes)
    {
        var tx = ++_tx;
        Emit(TransactionTopic, $$"""{"id":"{{tx}}"}""", $$"""{"status":"BEGIN","id":"{{tx}}","event_count":null,"data_collections":null}""");
        var perTable = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < changes.Count; i++)
        {
            var (table, op, id, after) = changes[i];
            var order = perTable[table] = perTable.GetValueOrDefault(table) + 1;
            var lsn = _lsn += 8;
            var value = $$$"""{"before":null,"after":{{{after}}},"source":{"version":"1.9.7.Final","connector":"postgresql","name":"bank","ts_ms":1748858401000,"snapshot":"false","db":"bank","sequence":"[null,\"{{{lsn}}}\"]","schema":"public","table":"{{{table}}}","txId":{{{tx}}},"lsn":{{{lsn}}},"xmin":null},"op":"{{{op}}}","ts_ms":1748858401100,"transaction":{"id":"{{{tx}}}","total_order":{{{i + 1}}},"data_collection_order":{{{order}}}}}""";
            Emit($"{Prefix}public.{table}", $$"""{"id":{{id}}}""", value);
        }

        var collections = string.Join(",", perTable.Select(p => $$"""{"data_collection":"public.{{p.Key}}","event_count":{{p.Value}}}"""));
        _pendingEnds.Add((tx, $$"""{"status":"END","id":"{{tx}}","event_count":{{changes.Count}},"data_collections":[{{collections}}]}"""));
        FlushEnd();
    }

    private readonly List<(long Tx, string Value)> _pendingEnds = [];

    private void FlushEnd()
    {
        foreach (var (tx, value) in _pendingEnds)
        {
            Emit(TransactionTopic, $$"""{"id":"{{tx}}"}""", value);
        }

        _pendingEnds.Clear();
    }

    /// <summary>Drops the END record of transaction number <paramref name="index"/> (1 = the accounts' creation).</summary>
    public void DropEnd(int index)
    {
        var tx = 700 + index;
        WithoutEnd.Add(tx);
        _topics[TransactionTopic].RemoveAll(line => line.Contains($"\"status\":\"END\",\"id\":\"{tx}\"", StringComparison.Ordinal));
    }

    private void Emit(string topic, string key, string value)
    {
        if (!_topics.TryGetValue(topic, out var lines))
        {
            _topics[topic] = lines = [];
        }

        var keyBase64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(key));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $$"""{"topic":"{{topic}}","key":"{{keyBase64}}","keyBase64":true,"value":{{value}}}"""));
    }
}
