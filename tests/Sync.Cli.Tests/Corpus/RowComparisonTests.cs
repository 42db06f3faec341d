using System.Text.Json.Nodes;

namespace Sync.Cli.Tests.Corpus;

/// <summary>The corpus comparison itself: equal values pass, and every kind of difference is reported.</summary>
public sealed class RowComparisonTests
{
    private static JsonObject Row(string json) => JsonNode.Parse(json)!.AsObject();

    private static SinkTable Table(Dictionary<string, string> types, params string[] rows) =>
        new(true, [.. types.Keys], types, [.. rows.Select(Row)]);

    [Fact]
    public void Decimals_compare_by_value_and_json_text_by_json_value()
    {
        var table = Table(new() { ["id"] = "INTEGER", ["amount"] = "TEXT", ["doc"] = "TEXT" },
            """{"id":1,"amount":"12.3","doc":"{\"b\": [1, 2.50], \"a\": null}"}""");

        Assert.Empty(RowComparison.Compare("t", [Row("""{"id":1,"amount":12.30,"doc":{"a":null,"b":[1,2.5]}}""")], table));
    }

    [Fact]
    public void A_real_column_compares_at_float_precision_and_timestamptz_by_instant()
    {
        var table = Table(new() { ["id"] = "integer", ["ratio"] = "real", ["at"] = "timestamp with time zone" },
            """{"id":1,"ratio":3.140000104904175,"at":"2024-01-05T10:15:30.5Z"}""");

        Assert.Empty(RowComparison.Compare("t", [Row("""{"id":1,"ratio":3.14,"at":"2024-01-05T11:15:30.500+01:00"}""")], table));
    }

    [Fact]
    public void Missing_extra_and_differing_rows_are_all_reported()
    {
        var table = Table(new() { ["id"] = "bigint", ["amount"] = "numeric", ["name"] = "text" },
            """{"id":1,"amount":12.30,"name":"a"}""",
            """{"id":3,"amount":1,"name":"c"}""");

        var problems = RowComparison.Compare("t", [Row("""{"id":1,"amount":12.31,"name":"a"}"""), Row("""{"id":2,"amount":1,"name":"b"}""")], table);

        Assert.Equal(
            [
                "t: row id=1: column amount (numeric): expected 12.31, got 12.30",
                "t: missing row {\"id\":2,\"amount\":1,\"name\":\"b\"}",
                "t: extra row {\"id\":3,\"amount\":1,\"name\":\"c\"}",
            ],
            problems);
    }

    [Fact]
    public void A_column_the_expected_rows_do_not_list_is_reported()
    {
        var table = Table(new() { ["id"] = "bigint", ["name"] = "text" }, """{"id":1,"name":"a"}""");

        var problems = RowComparison.Compare("t", [Row("""{"id":1}""")], table);

        Assert.Contains("t: the table has column name (text), which expected.json does not list", problems);
        Assert.Contains("t: row id=1: column name is stored (\"a\") but missing from the expected row", problems);
    }

    [Fact]
    public void Summary_columns_are_read_from_the_run_summary_table()
    {
        var summary = RunSummary.Parse("""
            run summary

              materializer   target            read   applied   deleted   dead-lettered   seconds   status
            ─────────────────────────────────────────────────────────────────────────────────────────────
              customers      target/customers      9         4         1               2      0.10   ok
              orders         target/orders         8         3         1               0      0.10   ok

            dead letters of customers: /tmp/x
            """);

        Assert.Equal(17, summary.Total("read"));
        Assert.Equal(2, summary.Total("dead-lettered"));
        Assert.Null(summary.Total("skipped"));
    }
}
