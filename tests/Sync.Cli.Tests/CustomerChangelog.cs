namespace Sync.Cli.Tests;

/// <summary>The <c>customers</c> table of the file changelog <c>data/customers.jsonl</c>, materialized
/// into <c>customers.db</c>, its rows the data of the subject <c>customer</c> keyed by <c>id</c>.</summary>
internal static class CustomerChangelog
{
    public const string Topic = "persistent://public/default/db1.public.customers";

    public static string Line(int id, string op, string name, int lsn) => ChangelogLines.Line(Topic, id, op, name, lsn);

    /// <summary>Writes the config file <paramref name="name"/>: the materializer <c>customers</c>, the
    /// subject <c>customer</c>, and <paramref name="erasure"/> (<c>key: value</c> each) under <c>erasure:</c>.</summary>
    public static string WriteConfig(Workspace workspace, string[] erasure, string name = "sync.yaml", string sourceOptions = "") =>
        workspace.WriteFileToSqliteConfig("data/customers.jsonl", "customers.db", name: name, sourceOptions: sourceOptions, rest: $$"""
            materializers:
              customers: { source: changelog, topics: ['{{Topic}}'], sink: local, table: customers, linger: 0ms }
            subjects:
              customer:
                customers: { key: id }
            erasure:
            {{string.Join('\n', erasure.Select(setting => "  " + setting))}}
            """);
}
