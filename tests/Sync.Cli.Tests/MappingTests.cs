namespace Sync.Cli.Tests;

public sealed class MappingTests : WorkspaceTests
{
    [Fact]
    public async Task Fan_in_of_tenant_topics_keeps_equal_ids_apart_and_maps_columns()
    {
        static string Line(string tenant, int id, string name, int lsn, string op = "c") =>
            $$$$"""{"topic":"persistent://public/default/{{{{tenant}}}}.public.users","key":{"id":{{{{id}}}}},"value":{"op":"{{{{op}}}}","after":{"id":{{{{id}}}},"name":"{{{{name}}}}","password_hash":"x"},"source":{"db":"{{{{tenant}}}}db","lsn":{{{{lsn}}}}}},"publishTime":"2025-06-02T09:00:0{{{{lsn % 10}}}}Z"}""";
        Workspace.Write("data/users.jsonl", string.Join('\n',
            Line("tenant_a", 1, "ada", 1),
            Line("tenant_b", 1, "bob", 2),
            Line("tenant_a", 2, "amy", 3),
            Line("tenant_b", 1, "bobby", 4, "u"),
            """{"topic":"persistent://public/default/other.public.users","key":{"id":9},"value":{"op":"c","after":{"id":9}}}""") + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", """
            materializers:
              users:
                source: changelog
                topicPattern: 'persistent://public/default/[a-z_]+\.public\.users'
                sink: local
                table: users
                tenant: { column: tenant, from: topic, pattern: 'persistent://public/default/(?<tenant>tenant_[a-z]+)\.public\.users' }
                columns: { exclude: [password_hash], rename: { name: full_name } }
                metadata: { source_db: source.db, published_at: publishTime }
            """);

        var result = await Workspace.Sync("run", "--config", config);

        // The tombstone whose tenant cannot be found is dead-lettered: the run exits 3 (docs/operations.md, "Exit codes").
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(
            [
                "tenant=tenant_a|id=1|full_name=ada|source_db=tenant_adb|published_at=2025-06-02T09:00:01.000Z",
                "tenant=tenant_a|id=2|full_name=amy|source_db=tenant_adb|published_at=2025-06-02T09:00:03.000Z",
                "tenant=tenant_b|id=1|full_name=bobby|source_db=tenant_bdb|published_at=2025-06-02T09:00:04.000Z",
            ],
            SqliteTables.Rows(Workspace.File("users.db"), "users").Order(StringComparer.Ordinal));
        Assert.Contains("does not match the pattern", File.ReadAllText(Workspace.File("users.deadletter.jsonl")), StringComparison.Ordinal);
    }
}
